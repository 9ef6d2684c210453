/**
 * Filesystem functions. Paths are relative to the job file's directory (`baseDir`), and the caller may
 * disable them: the API parses job files from remote users, who must not read the server's disk.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { FunctionError, argString, fn, type FunctionTable } from '../function-types.js';
import { bool, str } from '../values.js';

export interface FsOptions {
  /** Directory relative paths are resolved against; default: the process's working directory. */
  baseDir?: string;
  /** When false, file/fileexists/abspath fail with "filesystem function disabled", as in Nomad. */
  allowFS?: boolean;
}

const MAX_FILE_BYTES = 4 * 1024 * 1024;

export function fsFunctions(opts: FsOptions = {}): FunctionTable {
  const base = opts.baseDir ?? process.cwd();
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const guard = (): void => {
    if (opts.allowFS === false) throw new FunctionError('filesystem function disabled');
  };
  return {
    abspath: fn(['path'], (a) => {
      guard();
      return str(at(argString(a, 0)));
    }),
    file: fn(['path'], (a) => {
      guard();
      const p = at(argString(a, 0));
      try {
        if (statSync(p).size > MAX_FILE_BYTES)
          throw new FunctionError(`file ${p} is larger than ${MAX_FILE_BYTES} bytes`, 0);
        return str(readFileSync(p, 'utf8'));
      } catch (e) {
        if (e instanceof FunctionError) throw e;
        throw new FunctionError(`failed to read ${p}: ${(e as Error).message}`, 0);
      }
    }),
    fileexists: fn(['path'], (a) => {
      guard();
      const p = at(argString(a, 0));
      return bool(existsSync(p) && statSync(p).isFile());
    }),
    basename: fn(['path'], (a) => str(basename(argString(a, 0)))),
    dirname: fn(['path'], (a) => str(dirname(argString(a, 0)))),
  };
}
