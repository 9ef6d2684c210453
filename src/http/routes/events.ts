/**
 * `GET /v1/event/stream?topic=Job:web&topic=Allocation:*&index=N&namespace=ns`: Nomad's event stream as
 * newline-delimited JSON, one `{"Index", "Events": [...]}` line per write, and `{}` as a heartbeat when nothing
 * happened for a while. `index` resumes after a reconnect: events at or past it that the bounded buffer still
 * holds come first (the oldest held when it is older than that).
 */
import { badRequest } from '../../errors/index.js';
import type { EventFilter, EventTopic } from '../../server/types.js';
import type { Router } from '../router.js';
import { HANDLED } from '../reply.js';
import type { ServerRouteOptions } from '../types.js';

const TOPICS: ReadonlySet<string> = new Set([
  'Deployment',
  'Evaluation',
  'Allocation',
  'Job',
  'Node',
  'NodePool',
  'Service',
  'Variable',
  '*',
]);
/** Nomad's heartbeat period. */
export const HEARTBEAT_MS = 10_000;

/** Nomad's `topic=Name:key` parameters (`Name` alone means every key); none means every topic. */
export function parseTopics(values: string[]): EventFilter['topics'] {
  const topics: EventFilter['topics'] = new Map();
  if (values.length === 0) topics.set('*', new Set(['*']));
  for (const v of values) {
    const i = v.indexOf(':');
    const name = i < 0 ? v : v.slice(0, i);
    const key = i < 0 || v.slice(i + 1) === '' ? '*' : v.slice(i + 1);
    if (!TOPICS.has(name))
      throw badRequest(`invalid topic "${v}": expected Topic:key with Topic one of ${[...TOPICS].join(', ')}`);
    const set = topics.get(name as EventTopic | '*') ?? new Set<string>();
    set.add(key);
    topics.set(name as EventTopic | '*', set);
  }
  return topics;
}

export function eventRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/event/stream', async (c) => {
    const topics = parseTopics(c.query.getAll('topic'));
    const indexText = c.query.get('index') ?? '0';
    if (!/^\d{1,16}$/.test(indexText))
      throw badRequest(`invalid index "${indexText}": expected a non-negative integer`);
    const namespace = c.query.get('namespace') || 'default';
    const signal = c.signal;
    c.res.writeHead(200, { 'Content-Type': 'application/json' });
    c.res.flushHeaders();
    try {
      for await (const batch of server.eventSubscribe({ topics, namespace }, Number(indexText), signal, HEARTBEAT_MS)) {
        const ok = c.res.write(batch === null ? '{}\n' : JSON.stringify(batch) + '\n');
        // A slow reader: wait for the socket to drain rather than buffer without bound.
        if (!ok)
          await new Promise<void>((resolve) => {
            const done = () => {
              c.res.off('drain', done);
              c.res.off('close', done);
              resolve();
            };
            c.res.on('drain', done);
            c.res.on('close', done);
          });
      }
    } finally {
      c.res.end();
    }
    return HANDLED;
  });
}
