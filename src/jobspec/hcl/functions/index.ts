/** Nomad's HCL2 function library, assembled for one parse. */
import type { FunctionTable } from '../function-types.js';
import { cidrFunctions } from './cidr.js';
import { collectionFunctions } from './collections.js';
import { datetimeFunctions } from './datetime.js';
import { encodingFunctions } from './encoding.js';
import { fsFunctions } from './fs.js';
import { numberFunctions, stringFunctions } from './strings.js';

export interface FunctionOptions {
  /** Directory of the job file: `file("x")` reads `<baseDir>/x`. */
  baseDir?: string;
  /** Nomad's `-hcl2-strict`-independent switch: false makes file/fileexists/abspath fail. Default true. */
  allowFS?: boolean;
  /** Random bytes for uuidv4 (default: node:crypto). */
  randomBytes?: (n: number) => Buffer;
}

/** Every function Nomad's jobspec2 offers, by name. */
export function standardFunctions(opts: FunctionOptions = {}): FunctionTable {
  return {
    ...numberFunctions,
    ...stringFunctions,
    ...collectionFunctions,
    ...encodingFunctions({ randomBytes: opts.randomBytes }),
    ...datetimeFunctions,
    ...cidrFunctions,
    ...fsFunctions({ baseDir: opts.baseDir, allowFS: opts.allowFS }),
  };
}

export { goFormat } from './format.js';
export { jsonEncode } from './encoding.js';
export { formatDate } from './datetime.js';
