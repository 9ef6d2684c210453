/**
 * Nomad's event stream, fed from the state store's acknowledged writes.
 *
 *   store commit ──► toEvents(write) ──► buffer (last BUFFER_WRITES batches, bounded) ──► wake (once per turn)
 *                                                                                         │
 *   subscriber: cursor index ─► reads every batch past its cursor, filters by topic/key/namespace ◄─┘
 *
 * Publishing costs one conversion and one array push per write, whatever the number of subscribers: they are
 * woken together by one shared promise settled on the next turn of the event loop (so a burst of writes wakes
 * them once), and each filters on its own time. A subscriber that falls behind the buffer resumes at its oldest
 * batch, as Nomad's does when the requested index is no longer held.
 */
import type { CommittedWrite, StateStore, TableName } from '../state/index.js';

export type EventTopic = 'Deployment' | 'Evaluation' | 'Allocation' | 'Job' | 'Node' | 'NodePool' | 'Service' | 'Variable';

/** Nomad's structs.Event. */
export interface StreamEvent {
  Topic: EventTopic;
  Type: string;
  Key: string;
  Namespace: string;
  FilterKeys: string[] | null;
  Index: number;
  Payload: Record<string, unknown>;
}

/** Nomad's structs.Events: one write's events. */
export interface EventBatch {
  Index: number;
  Events: StreamEvent[];
}

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

export const ALL_TOPICS: EventTopic[] = ['Deployment', 'Evaluation', 'Allocation', 'Job', 'Node', 'NodePool', 'Service', 'Variable'];

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
      return { ...base, Type: deleted ? 'JobDeregistered' : 'JobRegistered', Key: id, FilterKeys: null, Payload: { Job: row ?? { ID: id, Namespace: ns } } };
    case 'Allocation':
      return { ...base, Type: deleted ? 'AllocationDeleted' : 'AllocationUpdated', Key: id, FilterKeys: keys(str('JobID'), str('DeploymentID')), Payload: { Allocation: row ?? { ID: id } } };
    case 'Evaluation':
      return { ...base, Type: deleted ? 'EvaluationDeleted' : 'EvaluationUpdated', Key: id, FilterKeys: keys(str('JobID'), str('DeploymentID')), Payload: { Evaluation: row ?? { ID: id } } };
    case 'Node':
      // Nodes have no namespace: Nomad sends them to every subscriber of the topic.
      return { ...base, Namespace: '', Type: deleted ? 'NodeDeregistration' : 'NodeRegistration', Key: id, FilterKeys: null, Payload: { Node: row === null ? { ID: id } : withoutSecret(row) } };
    case 'Deployment':
      return { ...base, Type: deleted ? 'DeploymentDeleted' : 'DeploymentStatusUpdate', Key: id, FilterKeys: keys(str('JobID')), Payload: { Deployment: row ?? { ID: id } } };
    case 'Service':
      return { ...base, Type: deleted ? 'ServiceDeregistration' : 'ServiceRegistration', Key: str('ServiceName') ?? id, FilterKeys: null, Payload: { Service: row ?? { ID: id } } };
    case 'Variable': {
      // Never the items: the stream is a change feed, the secret stays behind `GET /v1/var`.
      const meta = row === null ? { Namespace: ns, Path: id } : { ...row, Items: undefined };
      return { ...base, Type: deleted ? 'VariableDeleted' : 'VariableUpserted', Key: id, FilterKeys: null, Payload: { Variable: meta } };
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

export class EventBroker {
  private readonly buffer: EventBatch[] = [];
  private wake: { promise: Promise<void>; resolve: () => void } | undefined;
  private wakeScheduled = false;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(store: StateStore) {
    this.unsubscribe = store.onCommit((w) => this.publish(w));
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
    if (this.wake !== undefined && !this.wakeScheduled) {
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        const w2 = this.wake;
        this.wake = undefined;
        w2?.resolve();
      });
    }
  }

  /** The oldest index still held (0 when nothing is). */
  oldestIndex(): number {
    return this.buffer[0]?.Index ?? 0;
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

  private nextWake(): Promise<void> {
    if (this.wake === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.wake = { promise, resolve };
    }
    return this.wake.promise;
  }

  /**
   * The batches matching `f` from index `from` on, as they are committed, until `signal` aborts. Yields `null`
   * every `heartbeatMs` without events, for the caller's heartbeat.
   */
  async *subscribe(f: EventFilter, from: number, signal: AbortSignal, heartbeatMs: number): AsyncGenerator<EventBatch | null> {
    let cursor = from;
    while (!signal.aborted && !this.closed) {
      const batches = this.since(cursor, f);
      const last = this.buffer[this.buffer.length - 1];
      if (last !== undefined) cursor = Math.max(cursor, last.Index + 1);
      for (const b of batches) yield b;
      if (batches.length > 0) continue;
      const woke = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => done(false), heartbeatMs);
        const onAbort = () => done(false);
        const done = (v: boolean) => {
          clearTimeout(t);
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.nextWake().then(() => done(true), () => done(false));
      });
      if (!woke && !signal.aborted) yield null;
    }
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    const w = this.wake;
    this.wake = undefined;
    w?.resolve();
  }
}
