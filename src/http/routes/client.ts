/**
 * Client endpoints: task logs (`/v1/client/fs/logs/:alloc`, with follow), allocation stats
 * (`/v1/client/allocation/:id/stats`), service check results (`/v1/client/allocation/:id/checks`, Nomad's
 * AllocCheckStatus map), and user restart and signal (`/v1/client/allocation/:id/restart|signal`). The agent
 * running the allocation answers; a server forwards requests for allocations on other client agents
 * (client-forward.ts).
 */
import { badRequest, DroverError } from '../../errors/index.js';
import type { RequestContext, Router } from '../router.js';
import { HANDLED } from '../reply.js';
import { boolParam } from '../query.js';
import type { HttpApiOptions } from '../types.js';
import { allocTarget, forwardToClient } from './client-forward.js';

/** Nomad's AllocRestartRequest body. */
interface RestartBody {
  TaskName?: unknown;
  AllTasks?: unknown;
}
/** Nomad's AllocSignalRequest body. */
interface SignalBody {
  Task?: unknown;
  Signal?: unknown;
}

/** An optional JSON body: empty means `{}`, as Nomad's clients may send none. */
async function optionalBody<T extends object>(c: RequestContext): Promise<Partial<T>> {
  const raw = await c.text();
  if (raw.trim() === '') return {};
  const v = await c.json<unknown>();
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('request body must be a JSON object');
  return v as Partial<T>;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v == null || v === '') return undefined;
  if (typeof v !== 'string') throw badRequest(`${field} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

export function clientRoutes(r: Router, opts: HttpApiOptions): void {
  const needClient = () => {
    if (!opts.client) throw new DroverError('Unavailable', 'this agent does not run a client');
    return opts.client;
  };
  const resolveAlloc = (id: string) => (opts.server ? opts.server.resolvePrefix('alloc', id) : id);

  r.get('/v1/client/fs/logs/:alloc', async (c) => {
    const allocID = resolveAlloc(c.params.alloc!);
    const target = await allocTarget(c, opts, allocID);
    if (target.kind === 'remote') return forwardToClient(c, target, { param: c.params.alloc!, allocID });
    const client = needClient();
    const task = c.query.get('task');
    if (!task) throw badRequest('query parameter "task" is required');
    const type = c.query.get('type') ?? 'stdout';
    if (type !== 'stdout' && type !== 'stderr')
      throw badRequest(`invalid log type "${type}": expected stdout or stderr`);
    const origin = c.query.get('origin') ?? 'start';
    if (origin !== 'start' && origin !== 'end') throw badRequest(`invalid origin "${origin}": expected start or end`);
    const offsetText = c.query.get('offset') ?? '0';
    if (!/^\d+$/.test(offsetText)) throw badRequest(`invalid offset "${offsetText}"`);
    const follow = boolParam(c.query, 'follow');
    const plain = boolParam(c.query, 'plain');
    const stream = client.readLogs(allocID, task, type, {
      origin,
      offset: Number(offsetText),
      follow,
      signal: c.signal,
    });
    const it = stream[Symbol.asyncIterator]();
    // Read the first chunk before answering, so an unknown alloc or task is a proper 404, not a broken stream.
    const first = await it.next();
    c.res.writeHead(200, { 'Content-Type': plain ? 'text/plain; charset=utf-8' : 'application/json' });
    let offset = Number(offsetText);
    const write = (chunk: Buffer) => {
      if (plain) c.res.write(chunk);
      else {
        offset += chunk.length;
        c.res.write(
          JSON.stringify({ File: `alloc/logs/${task}.${type}`, Offset: offset, Data: chunk.toString('base64') }),
        );
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

  /** Answers here when this agent runs the allocation, else forwards it to the client agent that does. */
  const perAlloc =
    (live: boolean, local: (c: RequestContext, allocID: string) => Promise<unknown>) => async (c: RequestContext) => {
      const allocID = resolveAlloc(c.params.id!);
      const target = await allocTarget(c, opts, allocID, live);
      if (target.kind === 'remote')
        return forwardToClient(
          c,
          target,
          { param: c.params.id!, allocID },
          c.req.method === 'GET' ? undefined : await c.text(),
        );
      return local(c, allocID);
    };

  r.get(
    '/v1/client/allocation/:id/stats',
    perAlloc(false, async (_c, id) => needClient().allocStats(id)),
  );
  r.get(
    '/v1/client/allocation/:id/checks',
    perAlloc(false, async (_c, id) => needClient().allocChecks?.(id) ?? {}),
  );
  r.write(
    '/v1/client/allocation/:id/restart',
    perAlloc(true, async (c, id) => {
      const body = await optionalBody<RestartBody>(c);
      const task = optionalString(body.TaskName, 'TaskName');
      if (body.AllTasks != null && typeof body.AllTasks !== 'boolean')
        throw badRequest(`AllTasks must be a boolean, got ${JSON.stringify(body.AllTasks)}`);
      const client = needClient();
      if (!client.allocRestart) throw new DroverError('Unavailable', 'this client cannot restart allocations');
      await client.allocRestart(id, { task, allTasks: body.AllTasks === true });
      return {};
    }),
  );
  r.write(
    '/v1/client/allocation/:id/signal',
    perAlloc(true, async (c, id) => {
      const body = await optionalBody<SignalBody>(c);
      const task = optionalString(body.Task, 'Task');
      // Nomad's `alloc signal` sends SIGKILL when no signal is named.
      const signal = optionalString(body.Signal, 'Signal') ?? 'SIGKILL';
      const client = needClient();
      if (!client.allocSignal) throw new DroverError('Unavailable', 'this client cannot signal allocations');
      await client.allocSignal(id, { task, signal });
      return {};
    }),
  );
}
