/** Test support for the exec driver's tests (not exported from index.ts). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { ExecDriver, type ExecDriverOptions } from './driver.js';

let reason: Promise<string | undefined> | undefined;

/** undefined when runc can run containers here; otherwise why the exec tests cannot run. */
export function execUnavailable(): Promise<string | undefined> {
  reason ??= (async () => {
    // Fingerprinting writes nothing to the data dir, so it need not exist.
    const fp = await new ExecDriver({ dataDir: join(tmpdir(), 'drover-exec-fingerprint') }).fingerprint();
    return fp.health === 'healthy' ? undefined : `exec driver not usable here: ${fp.healthDescription}`;
  })();
  return reason;
}

/**
 * One data dir per test file, shared by the driver instances that stand for successive agents. Call at the
 * top level of a test file: the dir is removed after the file's tests.
 */
export function execTestDriverFactory(opts: ExecDriverOptions = {}): () => ExecDriver {
  const dataDir = mkdtempSync(join(tmpdir(), 'drover-exec-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  return () => new ExecDriver({ dataDir, pollMs: 50, ...opts });
}
