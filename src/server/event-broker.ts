/**
 * Nomad's event stream, fed from the state store's acknowledged writes.
 *
 *   store commit ──► toEvents(write) ──► buffer (last BUFFER_WRITES batches, bounded) ──► wake (once per turn)
 *                                                                                         │
 *   subscriber: cursor index ─► reads every batch past its cursor, filters by topic/key/namespace ◄─┘
 *
 * Publishing costs one conversion and one array push per write plus a look-up of the waiting subscribers by the
 * events' topic and keys: a write wakes only the subscribers it concerns (on the next turn of the event loop, so
 * a burst of writes wakes each once), and 10,000 subscribers to other keys cost it nothing. A subscriber that
 * falls behind the buffer resumes at its oldest batch, as Nomad's does when the requested index is gone.
 */
import type { CommittedWrite, StateStore, TableName } from '../state/index.js';
import { ALL_TOPICS, type EventBatch, type EventTopic, type StreamEvent } from '../structs/index.js';

export { ALL_TOPICS, type EventBatch, type EventTopic, type StreamEvent };

/** Writes held for resumption (`?index=`); older ones are dropped. */
export const BUFFER_WRITES = 4096;

const TOPICS: Partial<Record<TableName, EventTopic>> = {
  jobs: 'Job',
  allocs: 'Allocation',
  evals: 'Evaluation',
  nodes: 'Node',
  deployments: 'Deployment',
  service_registrations: 'Service',
  variables: 'Variable',
};

/** `ns\0id` keys of namespaced tables. */
function splitKey(key: string): { namespace: string; id: string } {
  const i = key.indexOf('\u0000');
  return i < 0 ? { namespace: '', id: key } : { namespace: key.slice(0, i), id: key.slice(i + 1) };
}

function eventOf(table: TableName, key: string, value: unknown, index: number): StreamEvent | undefined {
  const topic = TOPICS[table];
  if (topic === undefined) return undefined;
  const row = value as Record<string, unknown> | null;
  const { namespace, id } = splitKey(key);
  const ns = (row?.['Namespace'] as string | undefined) ?? namespace;
  const deleted = row === null;
  const base = { Topic: topic, Index: index, Namespace: ns };
  const str = (k: string) => (row?.[k] as string | undefined) || undefined;
  const keys = (...xs: Array<string | undefined>) => {
    const out = xs.filter((x): x is string => !!x);
    return out.length > 0 ? out : null;
  };
  switch (topic) {
    case 'Job':
      return {
        ...base,
        Type: deleted ? 'JobDeregistered' : 'JobRegistered',
        Key: id,
        FilterKeys: null,
        Payload: { Job: row ?? { ID: id, Namespace: ns } },
      };
    case 'Allocation':
      return {
        ...base,
        Type: deleted ? 'AllocationDeleted' : 'AllocationUpdated',
        Key: id,
        FilterKeys: keys(str('JobID'), str('DeploymentID')),
        Payload: { Allocation: row ?? { ID: id } },
      };
    case 'Evaluation':
      return {
        ...base,
        Type: deleted ? 'EvaluationDeleted' : 'EvaluationUpdated',
        Key: id,
        FilterKeys: keys(str('JobID'), str('DeploymentID')),
        Payload: { Evaluation: row ?? { ID: id } },
      };
    case 'Node':
      // Nodes have no namespace: Nomad sends them to every subscriber of the topic.
      return {
        ...base,
        Namespace: '',
        Type: deleted ? 'NodeDeregistration' : 'NodeRegistration',
        Key: id,
        FilterKeys: null,
        Payload: { Node: row === null ? { ID: id } : withoutSecret(row) },
      };
    case 'Deployment':
      return {
        ...base,
        Type: deleted ? 'DeploymentDeleted' : 'DeploymentStatusUpdate',
        Key: id,
        FilterKeys: keys(str('JobID')),
        Payload: { Deployment: row ?? { ID: id } },
      };
    case 'Service':
      return {
        ...base,
        Type: deleted ? 'ServiceDeregistration' : 'ServiceRegistration',
        Key: str('ServiceName') ?? id,
        FilterKeys: null,
        Payload: { Service: row ?? { ID: id } },
      };
    case 'Variable': {
      // Never the items: the stream is a change feed, the secret stays behind `GET /v1/var`.
      const meta =
        row === null ? { Namespace: ns, Path: id } : { ...row, Items: undefined, Data: undefined, KeyID: undefined };
      return {
        ...base,
        Type: deleted ? 'VariableDeleted' : 'VariableUpserted',
        Key: id,
        FilterKeys: null,
        Payload: { Variable: meta },
      };
    }
    default:
      return undefined;
  }
}

function withoutSecret(node: Record<string, unknown>): Record<string, unknown> {
  const { SecretID: _s, ...rest } = node;
  return rest;
}

/** What a subscriber wants: topic → keys (`*` any key), and a namespace (`*` any). */
export interface EventFilter {
  topics: Map<EventTopic | '*', Set<string>>;
  namespace: string;
}

export function eventMatches(f: EventFilter, e: StreamEvent): boolean {
  const keys = f.topics.get(e.Topic) ?? f.topics.get('*');
  if (keys === undefined) return false;
  if (!keys.has('*') && !keys.has(e.Key) && !(e.FilterKeys ?? []).some((k) => keys.has(k))) return false;
  return f.namespace === '*' || e.Namespace === '' || e.Namespace === f.namespace;
}

interface Waiter {
  filter: EventFilter;
  /** When the waiting subscriber is due a heartbeat (ms since epoch). */
  heartbeatAt: number;
  wake: (events: boolean) => void;
}

/** How often due heartbeats are looked for: one timer for every subscriber rather than one each. */
const HEARTBEAT_SCAN_MS = 1000;

export class EventBroker {
  private readonly buffer: EventBatch[] = [];
  /**
   * Waiting subscribers by topic then key (`*` for any), so a write wakes only those it concerns. A key followed
   * by one subscriber (the common case: a dashboard per job) holds it directly, not in a Set of its own.
   */
  private readonly waiters = new Map<string, Map<string, Waiter | Set<Waiter>>>();
  private readonly toWake = new Set<Waiter>();
  private wakeScheduled = false;
  private readonly unsubscribe: () => void;
  private closed = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly waitingSet = new Set<Waiter>();

  constructor(store: StateStore) {
    this.unsubscribe = store.onCommit((w) => this.publish(w));
  }

  private scanHeartbeats(): void {
    const now = Date.now();
    for (const wt of [...this.waitingSet]) if (wt.heartbeatAt <= now) wt.wake(false);
    if (this.waitingSet.size === 0 && this.heartbeatTimer !== undefined) {
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
    }
  }

  private publish(w: CommittedWrite): void {
    const events: StreamEvent[] = [];
    for (const c of w.changes) {
      const e = eventOf(c.table, c.key, c.value, w.index);
      if (e) events.push(e);
    }
    if (events.length === 0) return;
    this.buffer.push({ Index: w.index, Events: events });
    if (this.buffer.length > BUFFER_WRITES) this.buffer.splice(0, this.buffer.length - BUFFER_WRITES);
    if (this.waiters.size === 0) return;
    for (const e of events) {
      for (const topic of [e.Topic, '*']) {
        const byKey = this.waiters.get(topic);
        if (byKey === undefined) continue;
        for (const key of [e.Key, '*', ...(e.FilterKeys ?? [])]) {
          const at = byKey.get(key);
          if (at === undefined) continue;
          if (at instanceof Set) {
            for (const wt of at) if (eventMatches(wt.filter, e)) this.toWake.add(wt);
          } else if (eventMatches(at.filter, e)) this.toWake.add(at);
        }
      }
    }
    if (this.toWake.size > 0 && !this.wakeScheduled) {
      // Once per turn of the event loop: a burst of writes wakes each subscriber once.
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        const list = [...this.toWake];
        this.toWake.clear();
        for (const wt of list) wt.wake(true);
      });
    }
  }

  private addWaiter(wt: Waiter): void {
    this.waitingSet.add(wt);
    if (this.heartbeatTimer === undefined) {
      this.heartbeatTimer = setInterval(() => this.scanHeartbeats(), HEARTBEAT_SCAN_MS);
      this.heartbeatTimer.unref();
    }
    for (const [topic, keys] of wt.filter.topics) {
      let byKey = this.waiters.get(topic);
      if (byKey === undefined) this.waiters.set(topic, (byKey = new Map()));
      for (const k of keys) {
        const at = byKey.get(k);
        if (at === undefined) byKey.set(k, wt);
        else if (at instanceof Set) at.add(wt);
        else if (at !== wt) byKey.set(k, new Set([at, wt]));
      }
    }
  }

  private removeWaiter(wt: Waiter): void {
    this.waitingSet.delete(wt);
    this.toWake.delete(wt);
    for (const [topic, keys] of wt.filter.topics) {
      const byKey = this.waiters.get(topic);
      if (byKey === undefined) continue;
      for (const k of keys) {
        const at = byKey.get(k);
        if (at === wt) byKey.delete(k);
        else if (at instanceof Set) {
          at.delete(wt);
          if (at.size === 0) byKey.delete(k);
        }
      }
      if (byKey.size === 0) this.waiters.delete(topic);
    }
  }

  /** The oldest index still held (0 when nothing is). */
  oldestIndex(): number {
    return this.buffer[0]?.Index ?? 0;
  }

  /** Subscribers waiting for events now (tests, metrics). */
  waiting(): number {
    return this.waitingSet.size;
  }

  /** Batches with Index ≥ `from`, filtered; empty batches are left out. */
  private since(from: number, f: EventFilter): EventBatch[] {
    // The buffer is in index order: binary search for the first batch at or past `from`.
    let lo = 0;
    let hi = this.buffer.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.buffer[mid]!.Index < from) lo = mid + 1;
      else hi = mid;
    }
    const out: EventBatch[] = [];
    for (let i = lo; i < this.buffer.length; i++) {
      const b = this.buffer[i]!;
      const events = b.Events.filter((e) => eventMatches(f, e));
      if (events.length > 0) out.push({ Index: b.Index, Events: events });
    }
    return out;
  }

  /**
   * The batches matching `f` from index `from` on, as they are committed, until `signal` aborts. Yields `null`
   * every `heartbeatMs` without events, for the caller's heartbeat.
   */
  async *subscribe(
    f: EventFilter,
    from: number,
    signal: AbortSignal,
    heartbeatMs: number,
  ): AsyncGenerator<EventBatch | null> {
    let cursor = from;
    // One waiter and one abort listener for the whole subscription; each wait only sets where to resolve.
    let settle: ((events: boolean) => void) | undefined;
    const wt: Waiter = {
      filter: f,
      heartbeatAt: 0,
      wake: (events) => {
        this.removeWaiter(wt);
        const s = settle;
        settle = undefined;
        s?.(events);
      },
    };
    const onAbort = () => wt.wake(false);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted && !this.closed) {
        const batches = this.since(cursor, f);
        const last = this.buffer[this.buffer.length - 1];
        if (last !== undefined) cursor = Math.max(cursor, last.Index + 1);
        for (const b of batches) yield b;
        if (batches.length > 0) continue;
        const woke = await new Promise<boolean>((resolve) => {
          settle = resolve;
          wt.heartbeatAt = Date.now() + heartbeatMs;
          this.addWaiter(wt);
        });
        if (!woke && !signal.aborted && !this.closed) yield null;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.removeWaiter(wt);
    }
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    for (const w of [...this.waitingSet]) w.wake(false);
  }
}
