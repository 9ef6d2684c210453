/**
 * Keeps a template rendered while its data changes, for the client's template hook.
 *
 *   render ──complete & new content──▶ onRender(content) ──(not the first)──▶ sleep(splay) ──▶ onChange(content)
 *     ▲                                                                                           │
 *     └──── wait{min,max}: coalesce ◀── waitForChange(deps, indexes) ◀───────────────────────────┘
 *
 * Changes are observed through the caller's `waitForChange` (backed by blocking queries): no polling here.
 * After a change, further changes are coalesced until `wait.min` passes quietly, but never beyond `wait.max`
 * after the first one. The first render is not delayed (a task waits for it before starting) and has no splay.
 */
import { systemClock, type Clock } from '../lib/clock.js';
import type { Dependency, TemplateData, TemplateDataLoader } from './data.js';
import type { TemplateError } from './errors.js';
import type { RenderResult, TemplateRunner } from './runner.js';

export { systemClock, type Clock };

/**
 * Blocks until any of `deps` changes past `lastIndexes` (dependencyKey → index), then resolves with the new
 * indexes. Must reject or resolve promptly when `signal` aborts.
 */
export type WaitForChange = (
  deps: Dependency[],
  lastIndexes: ReadonlyMap<string, number>,
  signal: AbortSignal,
) => Promise<ReadonlyMap<string, number> | void>;

export interface WatchOptions {
  runner: TemplateRunner;
  data: TemplateData;
  loader?: TemplateDataLoader;
  waitForChange: WaitForChange;
  /** Quiescence, in milliseconds (the template's wait block). */
  wait?: { minMs: number; maxMs: number };
  /** Upper bound of the random delay before onChange, in milliseconds. */
  splayMs?: number;
  clock?: Clock;
  /** Uniform in [0, 1); injected so tests are deterministic. */
  rng?: () => number;
  /** Stop after the first complete render (the template's `once`). */
  once?: boolean;
  /** New content to write; `initial` for the first complete render. */
  onRender(content: string, info: { initial: boolean }): void | Promise<void>;
  /** The change_mode action, after splay; not called for the first render. */
  onChange?(content: string): void | Promise<void>;
  /** A render failed; the loop keeps waiting for data changes. Without it, the error ends the watch. */
  onError?(err: TemplateError, info: { initial: boolean }): void | Promise<void>;
  /** A render is waiting for data to exist (key or variable absent), e.g. to report it in task events. */
  onBlocked?(deps: Dependency[]): void;
  signal: AbortSignal;
}

/** Runs until `signal` aborts (then resolves) or, with `once`, until the first render. */
export async function watchTemplate(opts: WatchOptions): Promise<void> {
  const clock = opts.clock ?? systemClock;
  const rng = opts.rng ?? Math.random;
  const { signal } = opts;
  let last: string | undefined;
  let indexes = new Map<string, number>();
  try {
    while (!signal.aborted) {
      const res: RenderResult = await opts.runner.renderComplete(opts.data, opts.loader, signal);
      for (const [k, v] of res.indexes) indexes.set(k, v);
      const initial = last === undefined;
      if (res.error) {
        if (!opts.onError) throw res.error;
        await opts.onError(res.error, { initial });
      } else if (res.complete && res.output !== last) {
        last = res.output;
        await opts.onRender(res.output, { initial });
        if (opts.once) return;
        if (!initial && opts.onChange) {
          const splay = Math.floor(rng() * Math.max(0, opts.splayMs ?? 0));
          if (splay > 0) await clock.sleep(splay, signal);
          await opts.onChange(res.output);
        }
      } else if (!res.complete && res.blocked.length > 0) opts.onBlocked?.(res.blocked);
      indexes = await waitCoalesced(opts, clock, res.deps, indexes, last !== undefined);
    }
  } catch (e) {
    if (signal.aborted) return;
    throw e;
  }
}

async function waitCoalesced(
  opts: WatchOptions,
  clock: Clock,
  deps: Dependency[],
  indexes: Map<string, number>,
  rendered: boolean,
): Promise<Map<string, number>> {
  const { signal } = opts;
  if (deps.length === 0) {
    // Nothing can change: wait for the end.
    await new Promise<void>((resolve) =>
      signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    signal.throwIfAborted();
  }
  merge(indexes, await opts.waitForChange(deps, indexes, signal));
  const wait = opts.wait;
  if (!wait || !rendered || (wait.minMs <= 0 && wait.maxMs <= 0)) return indexes;
  const min = Math.max(0, wait.minMs);
  const deadline = clock.now() + Math.max(min, wait.maxMs > 0 ? wait.maxMs : min * 4);
  for (;;) {
    const now = clock.now();
    const quietFor = Math.min(min, deadline - now);
    if (quietFor <= 0) return indexes;
    const inner = new AbortController();
    const onAbort = () => inner.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const timer = clock.sleep(quietFor, inner.signal).then(() => 'quiet' as const);
      const change = opts.waitForChange(deps, indexes, inner.signal).then((ix) => ({ ix }));
      // The loser is cancelled through `inner`; its rejection is expected and swallowed.
      timer.catch(() => undefined);
      change.catch(() => undefined);
      const winner = await Promise.race([timer, change]);
      if (winner === 'quiet') return indexes;
      merge(indexes, winner.ix);
    } finally {
      inner.abort();
      signal.removeEventListener('abort', onAbort);
    }
    signal.throwIfAborted();
  }
}

function merge(into: Map<string, number>, from: ReadonlyMap<string, number> | void): void {
  if (from) for (const [k, v] of from) into.set(k, v);
}
