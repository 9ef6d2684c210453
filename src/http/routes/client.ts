/**
 * Client endpoints served by an agent that runs a client: task logs (`/v1/client/fs/logs/:alloc`, with
 * follow), allocation stats (`/v1/client/allocation/:id/stats`) and service check results
 * (`/v1/client/allocation/:id/checks`, Nomad's AllocCheckStatus map).
 */
import { badRequest, DroverError } from '../../errors/index.js';
import type { Router } from '../router.js';
import { HANDLED } from '../reply.js';
import { boolParam } from '../query.js';
import type { HttpApiOptions } from '../types.js';

export function clientRoutes(r: Router, opts: HttpApiOptions): void {
  const needClient = () => {
    if (!opts.client) throw new DroverError('Unavailable', 'this agent does not run a client');
    return opts.client;
  };
  const resolveAlloc = (id: string) => (opts.server ? opts.server.resolvePrefix('alloc', id) : id);

  r.get('/v1/client/fs/logs/:alloc', async (c) => {
    const client = needClient();
    const allocID = resolveAlloc(c.params.alloc!);
    const task = c.query.get('task');
    if (!task) throw badRequest('query parameter "task" is required');
    const type = c.query.get('type') ?? 'stdout';
    if (type !== 'stdout' && type !== 'stderr') throw badRequest(`invalid log type "${type}": expected stdout or stderr`);
    const origin = c.query.get('origin') ?? 'start';
    if (origin !== 'start' && origin !== 'end') throw badRequest(`invalid origin "${origin}": expected start or end`);
    const offsetText = c.query.get('offset') ?? '0';
    if (!/^\d+$/.test(offsetText)) throw badRequest(`invalid offset "${offsetText}"`);
    const follow = boolParam(c.query, 'follow');
    const plain = boolParam(c.query, 'plain');
    const stream = client.readLogs(allocID, task, type, { origin, offset: Number(offsetText), follow, signal: c.signal });
    const it = stream[Symbol.asyncIterator]();
    // Read the first chunk before answering, so an unknown alloc or task is a proper 404, not a broken stream.
    const first = await it.next();
    c.res.writeHead(200, { 'Content-Type': plain ? 'text/plain; charset=utf-8' : 'application/json' });
    let offset = Number(offsetText);
    const write = (chunk: Buffer) => {
      if (plain) c.res.write(chunk);
      else {
        offset += chunk.length;
        c.res.write(JSON.stringify({ File: `alloc/logs/${task}.${type}`, Offset: offset, Data: chunk.toString('base64') }));
      }
    };
    try {
      if (!first.done) write(first.value);
      if (!first.done) {
        for (;;) {
          const n = await it.next();
          if (n.done) break;
          write(n.value);
        }
      }
    } catch (e) {
      if (!c.signal.aborted) opts.logger.warn('log stream ended with an error', { allocID, task, error: String(e) });
    } finally {
      await it.return?.();
      c.res.end();
    }
    return HANDLED;
  });

  r.get('/v1/client/allocation/:id/stats', async (c) => needClient().allocStats(resolveAlloc(c.params.id!)));
  r.get('/v1/client/allocation/:id/checks', async (c) => needClient().allocChecks?.(resolveAlloc(c.params.id!)) ?? {});
}
