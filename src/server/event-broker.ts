/**
 * Nomad's event stream, fed from the state store's acknowledged writes.
 *
 *   store commit ──► ring (last BUFFER_WRITES writes, bounded; each converted to events on its first read)
 *                    ──► wake (one setImmediate pass per turn)
 *   subscriber (listen): filter, cursor index, sink ◄── batches past its cursor that match, in order ◄─┘
 *
 * Publishing costs one ring slot per write (its rows of the topics' tables); only while subscribers wait, its
 * conversion to events and a look-up of them by the events' topic and keys too: a write wakes only the
 * subscribers it concerns (on the next turn of the event loop, so a burst of writes wakes each once), and 10,000
 * subscribers to other keys cost it nothing. A subscriber is one small object and a callback, not a generator
 * with a pending promise: the heap the garbage collector marks on every major GC grows by ≈ 700 bytes per
 * stream, not ≈ 3,000. A subscriber that pauses (its socket is full) keeps only its cursor; one that falls
 * behind the ring resumes at its oldest batch, as Nomad's does when the requested index is gone.
 */
import type { CommittedWrite, StateStore, TableName } from '../state/index.js';
import { ALL_TOPICS, type EventBatch, type EventTopic, type StreamEvent } from '../structs/index.js';

export { ALL_TOPICS, type EventBatch, type EventTopic, type StreamEvent };

/**
 * Writes held for resumption (`?index=`); older ones are dropped. A bound on memory as much as on time: a batch
 * holds its rows (a job, an evaluation), so it keeps old versions alive; at the soak benchmark's traffic a batch
 * holds ≈ 1.9 KB of heap, 2 MB for 1,024 (Nomad's own default `event_buffer_size` is 100 events). Variable and
 * Node rows are held already stripped of what the stream never sends (a variable's encrypted Data and items, a
 * node's SecretID), so the ring keeps no secret alive.
 */
export const BUFFER_WRITES = 1024;

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

/**
 * The row as the ring holds it: a variable without its items or encrypted data, a node without its SecretID.
 * Applied when the write is published, not when its events are built, since that may be up to BUFFER_WRITES
 * writes later (or never) and the full row would stay in memory until then.
 */
function retained(table: TableName, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  const row = value as Record<string, unknown>;
  if (table === 'nodes') {
    const { SecretID: _s, ...rest } = row;
    return rest;
  }
  // Never the items: the stream is a change feed, the secret stays behind `GET /v1/var`.
  if (table === 'variables') return { ...row, Items: undefined, Data: undefined, KeyID: undefined };
  return value;
}

/** The event of one ring change; its row is already `retained`. */
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
        Payload: { Node: row ?? { ID: id } },
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
    case 'Variable':
      return {
        ...base,
        Type: deleted ? 'VariableDeleted' : 'VariableUpserted',
        Key: id,
        FilterKeys: null,
        Payload: { Variable: row ?? { Namespace: ns, Path: id } },
      };
    default:
      return undefined;
  }
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

/**
 * Called with each matching batch in index order, or `null` for a heartbeat. Returning `false` pauses the
 * subscription (the consumer cannot take more now: a full socket, an ACL check in flight); the broker then holds
 * nothing for it but its cursor, and `resume()` goes on from there.
 */
export type EventSink = (batch: EventBatch | null) => boolean | void;

/** One `listen` subscription. */
export interface EventSubscription {
  /** Stops deliveries until `resume()` (as the sink returning `false` does). */
  pause(): void;
  /** Delivers what was committed since the last delivered batch (on a later turn), then waits again. */
  resume(): void;
  /** Ends the subscription: nothing more is delivered, the broker forgets it. Idempotent. */
  close(): void;
}

/** A subscriber: its filter, its cursor (the next index it wants) and its sink. Nothing per pending write. */
class Subscriber implements EventSubscription {
  cursor: number;
  /** When the waiting subscriber is due a heartbeat (ms since epoch). */
  heartbeatAt = 0;
  /** Registered in the broker's topic/key index, waiting for a matching write. */
  waiting = false;
  paused = false;
  closed = false;

  constructor(
    private readonly broker: EventBroker,
    readonly filter: EventFilter,
    from: number,
    readonly heartbeatMs: number,
    readonly sink: EventSink,
    readonly onEnd: (() => void) | undefined,
  ) {
    this.cursor = from;
  }

  pause(): void {
    if (this.closed || this.paused) return;
    this.paused = true;
    this.broker.unindex(this);
  }

  resume(): void {
    if (this.closed || !this.paused) return;
    this.paused = false;
    this.broker.schedule(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.broker.forget(this);
  }
}

/**
 * One write held in the ring: its changes (rows `retained`, so no variable data or node secret) until the first
 * read builds its events, which are kept instead.
 */
interface RingEntry {
  Index: number;
  changes: CommittedWrite['changes'] | undefined;
  batch: EventBatch | undefined;
}

function batchOf(entry: RingEntry): EventBatch {
  if (entry.batch === undefined) {
    const events: StreamEvent[] = [];
    for (const c of entry.changes!) {
      const e = eventOf(c.table, c.key, c.value, entry.Index);
      if (e) events.push(e);
    }
    entry.batch = { Index: entry.Index, Events: events };
    entry.changes = undefined;
  }
  return entry.batch;
}

/** How often due heartbeats are looked for: one timer for every subscriber rather than one each. */
const HEARTBEAT_SCAN_MS = 1000;

export class EventBroker {
  /**
   * The last BUFFER_WRITES batches in index order: a ring, `count` of them from `head`. Each holds its rows until
   * read (variables and nodes stripped of their secrets at write time), then its events.
   */
  private readonly ring: Array<RingEntry | undefined> = new Array<RingEntry | undefined>(BUFFER_WRITES);
  private head = 0;
  private count = 0;
  /**
   * Waiting subscribers by topic then key (`*` for any), so a write wakes only those it concerns. A key followed
   * by one subscriber (the common case: a dashboard per job) holds it directly, not in a Set of its own.
   */
  private readonly waiters = new Map<string, Map<string, Subscriber | Set<Subscriber>>>();
  /** Subscribers due a delivery pass on the next turn: woken by a write, resumed, or new. */
  private readonly toWake = new Set<Subscriber>();
  private wakeScheduled = false;
  private readonly unsubscribe: () => void;
  private closed = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Every open subscription, waiting or not (to end them all on close). */
  private readonly live = new Set<Subscriber>();
  private waitingCount = 0;

  constructor(store: StateStore) {
    this.unsubscribe = store.onCommit((w) => this.publish(w));
  }

  private scanHeartbeats(): void {
    const now = Date.now();
    let due: Subscriber[] | undefined;
    for (const sub of this.live) if (sub.waiting && sub.heartbeatAt <= now) (due ??= []).push(sub);
    for (const sub of due ?? []) {
      if (!sub.waiting) continue;
      sub.heartbeatAt = now + sub.heartbeatMs;
      this.guarded(sub, () => {
        if (sub.sink(null) === false) sub.pause();
      });
    }
    if (this.live.size === 0 && this.heartbeatTimer !== undefined) {
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
    }
  }

  private publish(w: CommittedWrite): void {
    const changes: Array<CommittedWrite['changes'][number]> = [];
    for (const c of w.changes) {
      if (TOPICS[c.table] === undefined) continue;
      const value = retained(c.table, c.value);
      changes.push(value === c.value ? c : { ...c, value });
    }
    if (changes.length === 0) return;
    // Converted to events only when read: with nobody waiting (the common case under API load), a write costs
    // its ring slot and nothing else. The rows are committed values, so converting later gives the same events.
    const entry: RingEntry = { Index: w.index, changes, batch: undefined };
    if (this.count < BUFFER_WRITES) this.ring[(this.head + this.count++) % BUFFER_WRITES] = entry;
    else {
      this.ring[this.head] = entry;
      this.head = (this.head + 1) % BUFFER_WRITES;
    }
    if (this.waiters.size === 0) return;
    for (const e of batchOf(entry).Events) {
      for (const topic of [e.Topic, '*']) {
        const byKey = this.waiters.get(topic);
        if (byKey === undefined) continue;
        this.wakeAt(byKey.get(e.Key), e);
        this.wakeAt(byKey.get('*'), e);
        for (const k of e.FilterKeys ?? []) this.wakeAt(byKey.get(k), e);
      }
    }
  }

  private wakeAt(at: Subscriber | Set<Subscriber> | undefined, e: StreamEvent): void {
    if (at === undefined) return;
    if (at instanceof Set) {
      for (const sub of at) if (eventMatches(sub.filter, e)) this.schedule(sub);
    } else if (eventMatches(at.filter, e)) this.schedule(at);
  }

  /** Queues a delivery pass for `sub`: once per turn of the event loop, so a burst of writes wakes each once. */
  schedule(sub: Subscriber): void {
    this.toWake.add(sub);
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      const list = [...this.toWake];
      this.toWake.clear();
      for (const s of list) this.guarded(s, () => this.deliver(s));
    });
  }

  /** Hands `sub` every matching batch past its cursor, until it pauses; then waits for the next matching write. */
  private deliver(sub: Subscriber): void {
    if (sub.closed || sub.paused) return;
    this.unindex(sub);
    if (this.closed) return this.end(sub);
    // The buffer is in index order: binary search for the first batch at or past the cursor. A cursor older
    // than the buffer resumes at its oldest batch, as Nomad's does when the requested index is gone.
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entryAt(mid).Index < sub.cursor) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.count; i++) {
      const b = this.at(i);
      sub.cursor = b.Index + 1;
      const events = b.Events.filter((e) => eventMatches(sub.filter, e));
      if (events.length === 0) continue;
      const more = sub.sink(events.length === b.Events.length ? b : { Index: b.Index, Events: events });
      if (sub.closed) return;
      if (more === false || sub.paused) {
        sub.paused = true;
        return;
      }
    }
    this.index(sub);
  }

  /**
   * Runs one subscriber's delivery: a sink that throws ends that subscriber alone, never the pass that wakes the
   * others (nor the agent, as an uncaught exception from a timer would).
   */
  private guarded(sub: Subscriber, fn: () => void): void {
    try {
      fn();
    } catch {
      if (sub.closed) return;
      try {
        this.end(sub);
      } catch {
        /* its onEnd threw too: it is forgotten all the same */
      }
    }
  }

  private end(sub: Subscriber): void {
    sub.closed = true;
    this.forget(sub);
    sub.onEnd?.();
  }

  private index(sub: Subscriber): void {
    if (sub.waiting) return;
    sub.waiting = true;
    this.waitingCount++;
    sub.heartbeatAt = Date.now() + sub.heartbeatMs;
    if (this.heartbeatTimer === undefined) {
      this.heartbeatTimer = setInterval(() => this.scanHeartbeats(), HEARTBEAT_SCAN_MS);
      this.heartbeatTimer.unref();
    }
    for (const [topic, keys] of sub.filter.topics) {
      let byKey = this.waiters.get(topic);
      if (byKey === undefined) this.waiters.set(topic, (byKey = new Map()));
      for (const k of keys) {
        const at = byKey.get(k);
        if (at === undefined) byKey.set(k, sub);
        else if (at instanceof Set) at.add(sub);
        else if (at !== sub) byKey.set(k, new Set([at, sub]));
      }
    }
  }

  /** Takes `sub` out of the topic/key index (it stays subscribed: paused, or about to be handed batches). */
  unindex(sub: Subscriber): void {
    if (!sub.waiting) return;
    sub.waiting = false;
    this.waitingCount--;
    for (const [topic, keys] of sub.filter.topics) {
      const byKey = this.waiters.get(topic);
      if (byKey === undefined) continue;
      for (const k of keys) {
        const at = byKey.get(k);
        if (at === sub) byKey.delete(k);
        else if (at instanceof Set) {
          at.delete(sub);
          if (at.size === 1) byKey.set(k, at.values().next().value!);
          else if (at.size === 0) byKey.delete(k);
        }
      }
      if (byKey.size === 0) this.waiters.delete(topic);
    }
  }

  forget(sub: Subscriber): void {
    this.unindex(sub);
    this.toWake.delete(sub);
    this.live.delete(sub);
  }

  /** The oldest index still held (0 when nothing is). */
  oldestIndex(): number {
    return this.count === 0 ? 0 : this.entryAt(0).Index;
  }

  /** The i-th oldest batch held (0 ≤ i < count). */
  private at(i: number): EventBatch {
    return batchOf(this.entryAt(i));
  }

  private entryAt(i: number): RingEntry {
    return this.ring[(this.head + i) % BUFFER_WRITES]!;
  }

  /** Subscribers waiting for events now (tests, metrics). */
  waiting(): number {
    return this.waitingCount;
  }

  /**
   * Delivers the batches matching `f` from index `from` on to `sink`, as they are committed, and `null` every
   * `heartbeatMs` without events, until the subscription is closed; `onEnd` runs when the broker closes first.
   * The first delivery happens on a later turn of the event loop, never inside this call.
   */
  listen(f: EventFilter, from: number, heartbeatMs: number, sink: EventSink, onEnd?: () => void): EventSubscription {
    const sub = new Subscriber(this, f, from, heartbeatMs, sink, onEnd);
    if (this.closed) {
      sub.closed = true;
      queueMicrotask(() => onEnd?.());
      return sub;
    }
    this.live.add(sub);
    this.schedule(sub);
    return sub;
  }

  /**
   * The same as an async generator, until `signal` aborts (tests and in-process readers; the HTTP stream uses
   * `listen`, which holds no promise per waiting subscriber).
   */
  async *subscribe(
    f: EventFilter,
    from: number,
    signal: AbortSignal,
    heartbeatMs: number,
  ): AsyncGenerator<EventBatch | null> {
    const queue: Array<EventBatch | null> = [];
    let ended = false;
    let notify: (() => void) | undefined;
    const poke = () => {
      const n = notify;
      notify = undefined;
      n?.();
    };
    const sub = this.listen(
      f,
      from,
      heartbeatMs,
      (b) => {
        queue.push(b);
        poke();
        return false;
      },
      () => {
        ended = true;
        poke();
      },
    );
    const onAbort = () => {
      ended = true;
      poke();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const item = queue.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        if (ended) return;
        sub.resume();
        await new Promise<void>((resolve) => (notify = resolve));
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      sub.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    for (const sub of [...this.live]) this.end(sub);
  }
}
