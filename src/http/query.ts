/** Parsing of Nomad's common query parameters: blocking queries, namespace, prefix. */
import { badRequest } from '../errors/index.js';
import { parseGoDurationMs } from '../lib/duration.js';
import type { QueryOptions } from '../server/types.js';

const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;

/** Parses a Go duration (`5s`, `1m30s`, `250ms`) to milliseconds; a bare number is seconds, as Nomad's `wait`. */
export function parseDurationMs(text: string, what = 'duration'): number {
  return parseGoDurationMs(text.trim(), { bareNumber: 'seconds', allowNegative: false, what });
}

/**
 * `from` is the request (or anything with its signal): the signal is read only for a blocking query, the
 * one kind that waits, so a plain read builds no AbortController (http/server.ts makes it on first use).
 */
export function queryOptions(q: URLSearchParams, from: { readonly signal: AbortSignal }): QueryOptions {
  const opts: QueryOptions = { namespace: q.get('namespace') || 'default' };
  // Read for its validation; a standby server answers a stale read from its replica (agent/ha-seat.ts)
  // and forwards every other read to the leader.
  boolParam(q, 'stale');
  const index = q.get('index');
  if (index !== null && index !== '') {
    opts.signal = from.signal;
    if (!/^\d+$/.test(index) || !Number.isSafeInteger(Number(index)))
      throw badRequest(`invalid index "${index}": expected a non-negative integer below 2^53`);
    opts.minIndex = Number(index);
  }
  // Parsed even without `index`, as Nomad does, so a bad value is refused rather than silently ignored.
  const wait = q.get('wait');
  const waitMs = wait !== null && wait !== '' ? parseDurationMs(wait, 'wait') : DEFAULT_WAIT_MS;
  if (opts.signal !== undefined) opts.waitMs = Math.min(waitMs, MAX_WAIT_MS);
  const prefix = q.get('prefix');
  if (prefix) opts.prefix = prefix;
  return opts;
}

/** How long a blocking query with these parameters may be held (its `wait`, capped as Nomad caps it). */
export function blockingWaitMs(q: URLSearchParams): number {
  const wait = q.get('wait');
  return Math.min(wait !== null && wait !== '' ? parseDurationMs(wait, 'wait') : DEFAULT_WAIT_MS, MAX_WAIT_MS);
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/**
 * A boolean query parameter read as Nomad reads it, with Go's `strconv.ParseBool` (`1 t T TRUE true True`,
 * `0 f F FALSE false False`): clients in other languages send `True`. Present without a value means true.
 */
export function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  if (v === '' || GO_TRUE.has(v)) return true;
  if (GO_FALSE.has(v)) return false;
  throw badRequest(
    `invalid value "${v}" for query parameter "${name}": expected true or false (or 1, t, T, TRUE, True, 0, f, F, FALSE, False)`,
  );
}
