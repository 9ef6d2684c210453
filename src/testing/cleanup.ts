/**
 * Per-test cleanup for tests that start servers or write directories: steps pushed during a test run after it,
 * last pushed first, even when it fails. Tests only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

export type Cleanup = () => Promise<void> | void;

/** Registers an afterEach running the pushed steps last-first; call at the top of a test file. */
export function cleanupAfterEach(): Cleanup[] {
  const steps: Cleanup[] = [];
  afterEach(async () => {
    for (const c of steps.splice(0).reverse()) await c();
  });
  return steps;
}

/** A fresh temporary directory whose removal is pushed onto `cleanups`. */
export function tempDirFor(cleanups: Cleanup[], prefix = 'drover-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
