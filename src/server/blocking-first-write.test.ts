import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { createServer, type Server } from './index.js';
import { nomadMock } from '../testing/nomad-mock.js';

describe('blocking queries on a brand-new store', () => {
  let server: Server | undefined;
  let dir = '';
  afterEach(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('wakes a query sent with the index 1 an empty table answered, on the very first write', async () => {
    dir = mkdtempSync(join(tmpdir(), 'drover-block-'));
    server = await createServer({ dataDir: dir, logger: nullLogger });
    const first = await server.nodes.list({});
    expect(first.index).toBe(1);
    const waiting = server.nodes.list({ minIndex: first.index, waitMs: 5000 });
    const t0 = Date.now();
    await server.nodeRegister(nomadMock.node());
    const woke = await waiting;
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(woke.value).toHaveLength(1);
  });
});
