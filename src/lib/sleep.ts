/**
 * Abortable sleeps, on node:timers/promises, so every wait in the agent can be cut short by its AbortSignal
 * without each module writing its own timer-and-listener pair (there were five).
 */
import { setTimeout as delay } from 'node:timers/promises';

/** Resolves after `ms`; rejects with the signal's own reason (not a generic AbortError) when it aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw e;
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts: for loops that check the signal themselves. */
export async function sleepOrAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await delay(ms, undefined, { signal }).catch(() => undefined);
}
