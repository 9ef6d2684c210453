/**
 * The table of running tasks every built-in driver keeps, with the lookups the driver contract needs:
 * `get`/`waitTask` answer TaskNotFound for an unknown ID, and stopTask waits for the exit up to its timeout.
 */
import { sleep } from '../../lib/sleep.js';
import type { ExitResult } from '../types.js';
import { taskNotFound, withAbort } from './util.js';

export class TaskTable<T extends { readonly done: Promise<ExitResult> }> extends Map<string, T> {
  /** The task, or a TaskNotFound error naming it. */
  must(taskID: string): T {
    const t = this.get(taskID);
    if (!t) throw taskNotFound(taskID);
    return t;
  }

  /** The driver contract's waitTask: the task's exit, or the signal's reason when it aborts first. */
  wait(taskID: string, signal?: AbortSignal): Promise<ExitResult> {
    return withAbort(this.must(taskID).done, signal);
  }
}

/** True when `done` has not settled within `timeoutMs`: the wait between a stop signal and SIGKILL. */
export async function timedOutWaiting(done: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  const ac = new AbortController();
  try {
    return await Promise.race([
      done.then(() => false),
      sleep(timeoutMs, ac.signal).then(
        () => true,
        () => false,
      ),
    ]);
  } finally {
    ac.abort();
  }
}
