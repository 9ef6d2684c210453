/**
 * Small helpers shared by the built-in drivers: Go-style duration strings (as task `config` carries them),
 * signal names, and the driver error factories.
 */
import { constants } from 'node:os';
import { DroverError } from '../../errors/index.js';
import { readGoDuration } from '../../lib/duration.js';
import { sleep } from '../../lib/sleep.js';
import { RECOVERABLE_DETAIL } from '../types.js';

export { sleep };

/** Parses a Go duration ("1h2m3.5s", "250ms") or a number of nanoseconds (a time.Duration) into milliseconds. */
export function parseDurationMs(v: unknown): number {
  if (v == null || v === '') return 0;
  if (typeof v === 'number') return v / 1e6;
  if (typeof v !== 'string') throw new Error(`invalid duration ${JSON.stringify(v)}`);
  const r = readGoDuration(v, { bareNumber: 'nanoseconds', allowNegative: false });
  if (!r.ok) throw new Error(r.error);
  return r.ns / 1e6;
}

/** "SIGTERM", "TERM" or "15" → 15. Throws on an unknown name. */
export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number') return sig;
  if (/^\d+$/.test(sig)) return Number(sig);
  const name = (
    sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`
  ) as keyof typeof constants.signals;
  const n = constants.signals[name];
  if (n === undefined) throw new DroverError('BadRequest', `unknown signal ${JSON.stringify(sig)}`);
  return n;
}

/** 15 → "SIGTERM". */
export function signalName(n: number): NodeJS.Signals {
  for (const [k, v] of Object.entries(constants.signals)) if (v === n) return k as NodeJS.Signals;
  throw new DroverError('BadRequest', `unknown signal ${n}`);
}

/** A start failure; `recoverable` lets the restart policy retry it (see drivers/types.ts). */
export function driverError(message: string, recoverable: boolean, cause?: unknown): DroverError {
  return new DroverError('DriverError', message, { details: { [RECOVERABLE_DETAIL]: recoverable }, cause });
}

export function isRecoverable(err: unknown): boolean {
  return err instanceof DroverError && err.details[RECOVERABLE_DETAIL] === true;
}

export function taskNotFound(taskID: string): DroverError {
  return new DroverError('TaskNotFound', `task "${taskID}" not found`, { details: { taskID } });
}

/** Races a promise against an abort signal, without leaking the listener. */
export function withAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** An empty usage record, for drivers that measure nothing. */
export function emptyUsage(timestampNs: number): import('../types.js').TaskResourceUsage {
  return {
    timestamp: timestampNs,
    cpu: { percent: 0, systemMode: 0, userMode: 0, totalTicks: 0, throttledPeriods: 0, throttledTime: 0, measured: [] },
    memory: { rss: 0, cache: 0, swap: 0, usage: 0, maxUsage: 0, kernelUsage: 0, measured: [] },
  };
}
