/**
 * Nomad's allocation directory layout:
 *
 *   <data>/alloc/<allocID>/alloc/{data,logs,tmp}      shared by the group's tasks (NOMAD_ALLOC_DIR)
 *   <data>/alloc/<allocID>/<task>/{local,secrets,tmp}  per task (NOMAD_TASK_DIR is local/)
 *
 * Allocation IDs and task names come from the servers, which took them from a user. The server validates
 * them, but the client does not trust that: every path built from API data goes through `confinedPath`, which
 * refuses a name that is not a single plain segment and proves (after resolving symlinks) that the result stays
 * inside its root. A task named `../../victim` never reaches mkdir or chmod.
 */
import { mkdirSync, realpathSync, rmSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { TaskDirs } from '../drivers/index.js';
import { DroverError } from '../errors/index.js';
import { allocIDProblem, taskNameProblem } from '../structs/index.js';

/**
 * `root` joined with `parts`, refused when it leaves `root` once symlinks are resolved. Returns the joined
 * (not the resolved) path, so the paths tasks see do not change with how the data dir was reached.
 */
export function confinedPath(root: string, ...parts: string[]): string {
  return confinedIn(root, realOrSelf(resolve(root)), parts);
}

/**
 * `confinedPath(dir, name)` for each of `names` (plain segments), resolving `dir` once instead of once per name,
 * and a name not there yet against that resolution instead of resolving `dir` again: the same checks with a
 * third of the realpath calls (they were ≈ 5% of the agent's CPU per allocation placed, issue 18).
 */
function confinedChildren(dir: string, names: readonly string[]): string[] {
  const dirReal = realOrSelf(resolve(dir));
  return names.map((n) => confinedIn(dir, dirReal, [n]));
}

function confinedIn(root: string, rootReal: string, parts: readonly string[]): string {
  const joined = resolve(root, ...parts);
  // A direct child not there yet resolves to the root's resolution and its name (what realOrSelf would find).
  const real = dirname(joined) === resolve(root) ? realOrSelf(joined, rootReal) : realOrSelf(joined);
  const rel = relative(rootReal, real);
  if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
    throw new DroverError('BadRequest', `path ${JSON.stringify(join(...parts))} is outside ${root}`, {
      details: { root },
    });
  }
  return joined;
}

/** `p` with its symlinks resolved; `parentReal`, when given, is the resolution of `p`'s parent directory. */
function realOrSelf(p: string, parentReal?: string): string {
  try {
    return realpathSync.native(p);
  } catch {
    // Not there yet: resolve the parent's symlinks and keep the last part.
    const parent = dirname(p);
    return parent === p ? p : join(parentReal ?? realOrSelf(parent), basename(p));
  }
}

function checkAllocID(allocID: string): void {
  const bad = allocIDProblem(allocID);
  if (bad) throw new DroverError('BadRequest', bad);
}

/** The task name as a directory name: refused unless it is one plain segment. */
export function checkTaskName(task: string): void {
  const bad = taskNameProblem(task);
  if (bad) throw new DroverError('BadRequest', bad);
}

export function allocDirPath(dataDir: string, allocID: string): string {
  checkAllocID(allocID);
  return confinedPath(join(dataDir, 'alloc'), allocID);
}

export function buildAllocDir(dataDir: string, allocID: string): string {
  const root = allocDirPath(dataDir, allocID);
  const [shared] = confinedChildren(root, ['alloc']);
  for (const d of confinedChildren(shared!, ['data', 'logs', 'tmp'])) mkdirSync(d, { recursive: true });
  return root;
}

export function taskDirs(dataDir: string, allocID: string, task: string): TaskDirs {
  checkTaskName(task);
  const root = allocDirPath(dataDir, allocID);
  const dir = confinedPath(root, task);
  return {
    sharedAllocDir: join(root, 'alloc'),
    dir,
    localDir: join(dir, 'local'),
    secretsDir: join(dir, 'secrets'),
    logDir: join(root, 'alloc', 'logs'),
  };
}

export function buildTaskDir(dirs: TaskDirs): void {
  // Re-checked here: a symlink planted since taskDirs() must not redirect the mkdirs.
  const root = dirname(dirs.dir);
  confinedPath(root, basename(dirs.dir));
  const [local, secrets, tmp] = confinedChildren(dirs.dir, ['local', 'secrets', 'tmp']);
  mkdirSync(local!, { recursive: true });
  mkdirSync(secrets!, { recursive: true, mode: 0o700 });
  mkdirSync(tmp!, { recursive: true });
}

export function destroyAllocDir(dataDir: string, allocID: string): void {
  rmSync(allocDirPath(dataDir, allocID), { recursive: true, force: true });
}
