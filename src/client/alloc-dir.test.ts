import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAllocDir, buildTaskDir, confinedPath, taskDirs } from './alloc-dir.js';

describe('alloc dir confinement', () => {
  let data: string;
  beforeEach(() => {
    data = mkdtempSync(join(tmpdir(), 'drover-secure-allocdir-'));
  });
  afterEach(() => rmSync(data, { recursive: true, force: true }));

  it('refuses a task name that climbs out of the allocation directory', () => {
    expect(() => taskDirs(data, 'a1', '../../../../../../victim')).toThrow(/task name .* must not contain "\/"/);
    expect(() => taskDirs(data, 'a1', '..')).toThrow(/must not be "\." or "\.\."/);
    expect(existsSync(join(data, 'victim'))).toBe(false);
  });

  it('refuses an allocation ID that is not a plain token', () => {
    expect(() => buildAllocDir(data, '../x')).toThrow(/invalid allocation ID/);
  });

  it('refuses a path that leaves its root through a symlink', () => {
    const root = buildAllocDir(data, 'a1');
    const outside = join(data, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(root, 'web'));
    expect(() => confinedPath(root, 'web', 'local')).toThrow(/outside/);
    expect(() => buildTaskDir(taskDirs(data, 'a1', 'web'))).toThrow(/outside/);
    expect(existsSync(join(outside, 'local'))).toBe(false);
  });

  it('refuses a path whose symlink chain climbs out after a .. (resolved as the kernel does)', () => {
    const root = buildAllocDir(data, 'a1');
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    symlinkSync('..', join(root, 'a', 'b', 'c'));
    symlinkSync('b/c/../..', join(root, 'a', 'esc'));
    expect(() => confinedPath(root, 'a', 'esc')).toThrow(/outside/);
  });

  it('refuses a deeper symlink out, and .. parts, however the root itself was reached', () => {
    const root = buildAllocDir(data, 'a1');
    const outside = join(data, 'outside');
    mkdirSync(outside);
    mkdirSync(join(root, 'web', 'local'), { recursive: true });
    symlinkSync(outside, join(root, 'web', 'local', 'out'));
    expect(() => confinedPath(root, 'web', 'local', 'out', 'x')).toThrow(/outside/);
    expect(() => confinedPath(root, 'web', '..', '..', '..')).toThrow(/outside/);
    // The root reached through a symlink of its own: what is below it is still judged against it.
    symlinkSync(root, join(data, 'via'));
    expect(() => confinedPath(join(data, 'via'), 'web', 'local', 'out')).toThrow(/outside/);
    expect(confinedPath(join(data, 'via'), 'web', 'local')).toBe(join(data, 'via', 'web', 'local'));
  });

  it('refuses .. and absolute parts after a part that does not exist yet', () => {
    const root = buildAllocDir(data, 'a1');
    expect(() => confinedPath(root, 'web', '../../../../etc')).toThrow(/outside/);
    expect(() => confinedPath(root, 'missing', '/etc/cron.d')).toThrow(/outside/);
    expect(() => confinedPath(root, 'web', 'missing', '../../../../../etc')).toThrow(/outside/);
  });

  it('accepts a symlink that stays inside its root, and a path not there yet', () => {
    const root = buildAllocDir(data, 'a1');
    mkdirSync(join(root, 'web'));
    symlinkSync(join(root, 'web'), join(root, 'alias'));
    expect(confinedPath(root, 'alias', 'local')).toBe(join(root, 'alias', 'local'));
    expect(confinedPath(root, 'web', 'a', 'b')).toBe(join(root, 'web', 'a', 'b'));
    expect(confinedPath(root, 'web', '..', 'alloc')).toBe(join(root, 'alloc'));
  });

  it('builds the task directories of a valid name inside the allocation directory', () => {
    buildAllocDir(data, 'a1');
    const dirs = taskDirs(data, 'a1', 'web');
    buildTaskDir(dirs);
    expect(dirs.dir).toBe(join(data, 'alloc', 'a1', 'web'));
    expect(existsSync(dirs.secretsDir)).toBe(true);
  });

  it('checks the paths again when the directories are already there, and refuses a symlink a task planted in them', () => {
    const root = buildAllocDir(data, 'a1');
    expect(buildAllocDir(data, 'a1')).toBe(root);
    const dirs = taskDirs(data, 'a1', 'web');
    buildTaskDir(dirs);
    buildTaskDir(dirs);
    const outside = join(data, 'outside');
    mkdirSync(outside);
    rmSync(dirs.localDir, { recursive: true });
    symlinkSync(outside, dirs.localDir);
    expect(() => buildTaskDir(dirs)).toThrow(/outside/);
    rmSync(join(root, 'alloc', 'tmp'), { recursive: true });
    symlinkSync(outside, join(root, 'alloc', 'tmp'));
    expect(() => buildAllocDir(data, 'a1')).toThrow(/outside/);
    expect(existsSync(join(outside, 'local'))).toBe(false);
  });

  it('creates every directory of a new allocation and task, secrets private to the agent', () => {
    const root = buildAllocDir(data, 'a2');
    for (const d of ['data', 'logs', 'tmp']) expect(statSync(join(root, 'alloc', d)).isDirectory()).toBe(true);
    const dirs = taskDirs(data, 'a2', 'web');
    buildTaskDir(dirs);
    for (const d of [dirs.localDir, join(dirs.dir, 'tmp')]) expect(statSync(d).isDirectory()).toBe(true);
    expect(statSync(dirs.secretsDir).mode & 0o777).toBe(0o700);
  });
});
