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
import { lstatSync, mkdirSync, realpathSync, rmSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { TaskDirs } from '../drivers/index.js';
import { DroverError } from '../errors/index.js';
import { allocIDProblem, taskNameProblem } from '../structs/index.js';

/**
 * `root` joined with `parts`, refused when it leaves `root` once symlinks are resolved. Returns the joined
 * (not the resolved) path, so the paths tasks see do not change with how the data dir was reached.
 */
export function confinedPath(root: string, ...parts: string[]): string {
  const joined = resolve(root, ...parts);
  if (plainBelow(root, parts)) return joined;
  const rootReal = realOrSelf(resolve(root));
  const rel = relative(rootReal, realOrSelf(joined));
  if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
    throw new DroverError('BadRequest', `path ${JSON.stringify(join(...parts))} is outside ${root}`, {
      details: { root },
    });
  }
  return joined;
}

/**
 * The cheap proof, for the common case: every part is one plain segment, and none of the entries they name under
 * `root` is a symlink (an `lstat` each, stopping at the first that does not exist: nothing below it can be one).
 * Then the joined path is `root` followed by real directories, i.e. inside it whatever `root` itself resolves to,
 * which is what the full check (both sides through `realpath`) would find. Any symlink, or a part such as `..`,
 * goes to that full check. `realpath` walks and `lstat`s every component from `/` on each call and throws for a
 * path not there yet; the allocation and task directories took ≈ 30 such calls per allocation.
 */
function plainBelow(root: string, parts: string[]): boolean {
  // Every part first: the walk below stops at the first entry not there, and the parts after it must be plain too.
  for (const part of parts)
    if (part === '' || part === '.' || part === '..' || part.includes('/') || part.includes(sep)) return false;
  let p = resolve(root);
  for (const part of parts) {
    p = join(p, part);
    let st;
    try {
      st = lstatSync(p, { throwIfNoEntry: false });
    } catch {
      return false; // ENOTDIR, EACCES...: the full check decides
    }
    if (st === undefined) return true;
    if (st.isSymbolicLink()) return false;
  }
  return true;
}

function realOrSelf(p: string): string {
  try {
    return realpathSync.native(p);
  } catch {
    // Not there yet: resolve the parent's symlinks and keep the last part.
    const parent = dirname(p);
    return parent === p ? p : join(realOrSelf(parent), basename(p));
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

/**
 * Creates `dir` itself (not its parents, except a missing data-dir level above it). True when this call created
 * it: then it is a real, empty directory, and nothing below it can be a symlink, so the plain names created in it
 * next need no `confinedPath` check. False when something is already there (a directory from an earlier run, or
 * a symlink, dangling or not: `mkdir` does not follow it): the caller then takes the checked path.
 */
function mkdirFresh(dir: string, parentMayBeMissing: boolean, mode?: number): boolean {
  try {
    mkdirSync(dir, mode === undefined ? undefined : { mode });
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'ENOENT' || !parentMayBeMissing) throw e;
  }
  mkdirSync(dirname(dir), { recursive: true });
  return mkdirFresh(dir, false, mode);
}

/**
 * Lays out `<data>/alloc/<allocID>/alloc/{data,logs,tmp}`. A new allocation's directory is created level by
 * level with one `mkdir` each and no `lstat` (see mkdirFresh): these paths are checked for symlinks only when
 * the directory was already there, as after an agent restart, where a task may have planted one.
 */
export function buildAllocDir(dataDir: string, allocID: string): string {
  checkAllocID(allocID);
  const fresh = join(dataDir, 'alloc', allocID);
  if (mkdirFresh(fresh, true)) {
    const shared = join(fresh, 'alloc');
    mkdirSync(shared);
    for (const d of ['data', 'logs', 'tmp']) mkdirSync(join(shared, d));
    return resolve(fresh);
  }
  const root = allocDirPath(dataDir, allocID);
  for (const d of ['data', 'logs', 'tmp']) mkdirSync(confinedPath(root, 'alloc', d), { recursive: true });
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
  // A task dir this call creates is empty and real (mkdirFresh): its three plain subdirectories need no check.
  if (mkdirFresh(dirs.dir, true)) {
    mkdirSync(join(dirs.dir, 'local'));
    mkdirSync(join(dirs.dir, 'secrets'), { mode: 0o700 });
    mkdirSync(join(dirs.dir, 'tmp'));
    return;
  }
  // Re-checked here: a symlink planted since taskDirs() must not redirect the mkdirs.
  const root = dirname(dirs.dir);
  confinedPath(root, basename(dirs.dir));
  mkdirSync(confinedPath(dirs.dir, 'local'), { recursive: true });
  mkdirSync(confinedPath(dirs.dir, 'secrets'), { recursive: true, mode: 0o700 });
  mkdirSync(confinedPath(dirs.dir, 'tmp'), { recursive: true });
}

export function destroyAllocDir(dataDir: string, allocID: string): void {
  rmSync(allocDirPath(dataDir, allocID), { recursive: true, force: true });
}
