/**
 * `GET /v1/event/stream?topic=Job:web&topic=Allocation:*&index=N&namespace=ns`: Nomad's event stream as
 * newline-delimited JSON, one `{"Index", "Events": [...]}` line per write, and `{}` as a heartbeat when nothing
 * happened for a while. `index` resumes after a reconnect: events at or past it that the bounded buffer still
 * holds come first (the oldest held when it is older than that).
 *
 * With ACLs on, the token is checked again on every batch and every RECHECK_MS: once it is deleted, expired or
 * no longer allowed to read the stream (its policy deleted or changed), the stream ends with one error line
 * `{"Error": "ACL token not found" | "ACL token expired" | "Permission denied", "Code": ...}`, as Nomad closes it.
 */
import type { ACL } from '../../acl/index.js';
import { badRequest, isDroverError } from '../../errors/index.js';
import { authorize, requestSecret, ruleFor, SERVER_IDENTITY } from '../acl-rules.js';
import type { EventBatch, EventFilter, EventTopic, StreamEvent } from '../../server/types.js';
import { ALL_TOPICS } from '../../structs/index.js';
import type { Router } from '../router.js';
import { HANDLED } from '../reply.js';
import type { ServerRouteOptions } from '../types.js';

const TOPICS: ReadonlySet<string> = new Set([...ALL_TOPICS, '*']);
/** Nomad's heartbeat period. */
export const HEARTBEAT_MS = 10_000;
/** How often an open stream's token is checked again when no batch arrives (expiry, deletion, policy change). */
export const RECHECK_MS = 1_000;

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

/**
 * Whether the token may see one event (Nomad's stream checks each event too): Node events need node:read; a
 * variable's change needs `list` on its path; services read-job or a workload identity of the namespace; jobs,
 * allocations, evaluations and deployments read-job in their namespace. Node pools are cluster-wide, as nodes.
 */
export function eventAllowed(acl: ACL, e: StreamEvent): boolean {
  const ns = e.Namespace || 'default';
  switch (e.Topic) {
    case 'Node':
    case 'NodePool':
      return acl.allowNode('read');
    case 'Variable':
      return acl.allowVariableOperation(ns, e.Key, 'list');
    case 'Service':
      return acl.allowServiceRead(ns);
    default:
      return acl.allowNamespaceOperation(ns, 'read-job');
  }
}

/** The batch with only the events `acl` may see; undefined when none is left (nothing is written then). */
function visible(batch: EventBatch, acl: ACL | undefined): EventBatch | undefined {
  if (acl === undefined || acl.management) return batch;
  const events = batch.Events.filter((e) => eventAllowed(acl, e));
  if (events.length === 0) return undefined;
  return events.length === batch.Events.length ? batch : { ...batch, Events: events };
}

export function eventRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/event/stream', async (c) => {
    const topics = parseTopics(c.query.getAll('topic'));
    const indexText = c.query.get('index') ?? '0';
    if (!/^\d{1,16}$/.test(indexText))
      throw badRequest(`invalid index "${indexText}": expected a non-negative integer`);
    const namespace = c.query.get('namespace') || 'default';
    // With ACLs on, the route's rule admitted the request; each event is then checked on its own.
    let acl = c.identity?.acl;
    const gate = opts.acl ?? opts.aclGate;
    const recheckable = gate?.enabled === true && c.identity !== undefined && c.identity !== SERVER_IDENTITY;
    const secret = requestSecret(c);
    const ended = new AbortController();
    const signal = AbortSignal.any([c.signal, ended.signal]);
    let refusal: { Error: string; Code: string } | undefined;
    /** The token again, as at open: false (and the stream ends) once it no longer admits the request. */
    const recheck = async (): Promise<boolean> => {
      if (!recheckable || refusal) return !refusal;
      try {
        const who = await gate.resolve(secret);
        await authorize(c, ruleFor('GET', '/v1/event/stream'), who, opts);
        acl = who.acl;
        return true;
      } catch (e) {
        if (!isDroverError(e)) throw e;
        refusal = { Error: e.message, Code: e.code };
        ended.abort();
        return false;
      }
    };
    const timer = recheckable
      ? setInterval(() => {
          recheck().catch(() => undefined);
        }, RECHECK_MS)
      : undefined;
    c.res.writeHead(200, { 'Content-Type': 'application/json' });
    c.res.flushHeaders();
    // The broker calls `sink` with each batch (or null for a heartbeat) and holds no promise for a waiting stream.
    // Without a token to recheck a batch is written at once; with one, deliveries pause while it is checked.
    let stalled = false;
    try {
      await new Promise<void>((resolve, reject) => {
        let finished = false;
        const queue: Array<EventBatch | null> = [];
        let busy = false;
        const finish = (e?: unknown) => {
          if (finished) return;
          finished = true;
          sub.close();
          signal.removeEventListener('abort', onAbort);
          if (e === undefined) resolve();
          else reject(e instanceof Error ? e : new Error(String(e)));
        };
        const onAbort = () => finish();
        /** Writes one batch or heartbeat; false when the socket's buffer is full. */
        const write = (item: EventBatch | null): boolean => {
          const shown = item === null ? null : visible(item, acl);
          if (shown === undefined) return true;
          return c.res.write(shown === null ? '{}\n' : JSON.stringify(shown) + '\n');
        };
        /**
         * A slow reader: deliveries stay paused until the socket drains rather than buffering without bound. A
         * token refused meanwhile ends the wait too: a reader that stopped reading is then cut off.
         */
        const drained = () =>
          new Promise<void>((done) => {
            const settle = () => {
              c.res.off('drain', settle);
              c.res.off('close', settle);
              ended.signal.removeEventListener('abort', settle);
              done();
            };
            c.res.on('drain', settle);
            c.res.on('close', settle);
            ended.signal.addEventListener('abort', settle);
          });
        /** Waits for the drain; false when the stream ended meanwhile. */
        const unstall = async (): Promise<boolean> => {
          stalled = true;
          await drained();
          if (ended.signal.aborted || finished || c.res.destroyed) {
            finish();
            return false;
          }
          stalled = false;
          return true;
        };
        const work = async () => {
          busy = true;
          for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
            if (!(await recheck()) || finished) return finish();
            if (!write(item) && !(await unstall())) return;
          }
          busy = false;
          sub.resume();
        };
        const sink = (item: EventBatch | null): boolean => {
          if (finished) return false;
          if (!recheckable) {
            if (write(item)) return true;
            unstall()
              .then((more) => more && sub.resume())
              .catch(finish);
            return false;
          }
          queue.push(item);
          if (!busy) work().catch(finish);
          return false;
        };
        const sub = server.events.listen({ topics, namespace }, Number(indexText), HEARTBEAT_MS, sink, () => finish());
        if (signal.aborted) finish();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
    } finally {
      clearInterval(timer);
      if (stalled) c.res.destroy();
      else {
        if (refusal && !c.res.destroyed) c.res.write(JSON.stringify(refusal) + '\n');
        c.res.end();
      }
    }
    return HANDLED;
  });
}
