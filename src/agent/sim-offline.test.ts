/** `drover sim -snapshot FILE`: the what-if runs over a saved snapshot with no agent, and leaves the file as it was. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { createServer } from '../server/index.js';
import { build } from '../testing/builders.js';
import { simulateSnapshotFile } from './sim-offline.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('simulateSnapshotFile', () => {
  it('places a new job on the nodes of a saved snapshot without changing the file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'drover-sim-offline-test-'));
    const server = await createServer({ dataDir: join(dir, 'data'), logger: nullLogger, start: false });
    await server.nodeRegister(build.node({ Name: 'client-1' }));
    const file = join(dir, 'state.snap');
    const { index } = await server.snapshotSave(file);
    await server.stop();
    const bytes = readFileSync(file);

    const job = build.job({ ID: 'web' });
    job.TaskGroups[0]!.Count = 3;
    const r = await simulateSnapshotFile(file, { AddNodes: [{ Count: 1, Like: 'client-1' }], Jobs: [job] });
    expect(r.Index).toBe(index);
    expect(r.Groups).toMatchObject([{ JobID: 'web', Desired: 3, Placed: 3, Unplaced: 0 }]);
    expect(r.Nodes.map((n) => n.Name).sort()).toEqual(['client-1', 'client-1-sim-1']);
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });
});
