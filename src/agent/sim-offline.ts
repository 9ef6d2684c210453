/**
 * `drover sim -snapshot FILE`: a what-if over a snapshot file (`drover operator snapshot save`), with no agent
 * running. The file is copied into a scratch data dir, a server is opened over it without starting (no workers,
 * no heartbeats), and its `simulate` runs exactly as `PUT /v1/operator/sim` would. The file itself is only read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../logging/index.js';
import { createServer } from '../server/index.js';
import { restoreSnapshot, SqliteBackend } from '../state/index.js';
import type { SimRequest, SimResult } from '../structs/index.js';
import { SUPPORTED_FEATURES } from './agent.js';

export async function simulateSnapshotFile(file: string, req: SimRequest, signal?: AbortSignal): Promise<SimResult> {
  const dir = mkdtempSync(join(tmpdir(), 'drover-sim-'));
  try {
    restoreSnapshot(file, dir);
    const backend = new SqliteBackend({ dataDir: dir, synchronous: 'NORMAL' });
    const server = await createServer(
      { dataDir: dir, backend, logger: nullLogger, start: false, supportedFeatures: SUPPORTED_FEATURES },
      signal,
    );
    try {
      return await server.simulate(req, signal);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
