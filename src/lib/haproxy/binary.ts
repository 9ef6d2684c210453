/**
 * Finding the haproxy executable the way a shell would (each PATH entry in order), without running it: the agent
 * asks this at start-up to choose its default data plane, so a missing binary costs a few stat calls, not a spawn.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * The path of `bin` when it names an executable file (an absolute or relative path is checked as given, a bare
 * name is looked up on `path`), else undefined.
 */
export function findExecutable(bin: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  const candidates =
    bin.includes('/') || isAbsolute(bin)
      ? [bin]
      : path
          .split(delimiter)
          .filter(Boolean)
          .map((d) => join(d, bin));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not there or not executable: try the next entry
    }
  }
  return undefined;
}
