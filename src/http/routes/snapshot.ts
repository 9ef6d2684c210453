/**
 * `GET /v1/operator/snapshot`: a consistent copy of the server's state as a file (SQLite's online backup),
 * as Nomad's endpoint of the same name; `drover operator snapshot save` calls it. The body is a SQLite
 * database in Drover's layout, not Nomad's raft snapshot. Restoring is offline (docs/operations.md):
 * `PUT /v1/operator/snapshot` answers 400 saying so, since swapping the state under a running server
 * would need every in-memory index rebuilt while requests are served.
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { badRequest } from '../../errors/index.js';
import type { Router } from '../router.js';
import { HANDLED } from '../reply.js';
import type { ServerRouteOptions } from '../types.js';

export function snapshotRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/operator/snapshot', async (c) => {
    if (server.snapshotSave === undefined) throw badRequest('this server cannot take snapshots');
    const dir = mkdtempSync(join(tmpdir(), 'drover-snapshot-'));
    try {
      const file = join(dir, 'state.snap');
      const { index } = await server.snapshotSave(file);
      c.res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Nomad-Index': String(index) });
      await pipeline(createReadStream(file), c.res);
      return HANDLED;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  r.write('/v1/operator/snapshot', () => {
    throw badRequest(
      'online snapshot restore is not supported: stop the agent, then run `drover operator snapshot restore FILE -data-dir DIR`',
    );
  });
}
