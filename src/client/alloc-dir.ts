/**
 * Nomad's allocation directory layout:
 *
 *   <data>/alloc/<allocID>/alloc/{data,logs,tmp}      shared by the group's tasks (NOMAD_ALLOC_DIR)
 *   <data>/alloc/<allocID>/<task>/{local,secrets,tmp}  per task (NOMAD_TASK_DIR is local/)
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskDirs } from '../drivers/index.js';

export function allocDirPath(dataDir: string, allocID: string): string {
  return join(dataDir, 'alloc', allocID);
}

export function buildAllocDir(dataDir: string, allocID: string): string {
  const root = allocDirPath(dataDir, allocID);
  for (const d of ['data', 'logs', 'tmp']) mkdirSync(join(root, 'alloc', d), { recursive: true });
  return root;
}

export function taskDirs(dataDir: string, allocID: string, task: string): TaskDirs {
  const root = allocDirPath(dataDir, allocID);
  const dir = join(root, task);
  return {
    sharedAllocDir: join(root, 'alloc'),
    dir,
    localDir: join(dir, 'local'),
    secretsDir: join(dir, 'secrets'),
    logDir: join(root, 'alloc', 'logs'),
  };
}

export function buildTaskDir(dirs: TaskDirs): void {
  mkdirSync(dirs.localDir, { recursive: true });
  mkdirSync(dirs.secretsDir, { recursive: true, mode: 0o700 });
  mkdirSync(join(dirs.dir, 'tmp'), { recursive: true });
}

export function destroyAllocDir(dataDir: string, allocID: string): void {
  rmSync(allocDirPath(dataDir, allocID), { recursive: true, force: true });
}
