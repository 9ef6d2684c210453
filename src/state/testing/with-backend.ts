/**
 * Test support: a state backend open only for the length of a callback, so a failed assertion inside it never
 * leaves a database (and, for the threaded backend, its worker) open behind the test.
 */
import type { StateBackend } from '../backend.js';

/**
 * Runs `fn` with `backend` and closes the backend however `fn` ends. When `fn` throws, that error is the one
 * reported (a close failing after it is dropped); when `fn` succeeds, a close that fails fails the call, since
 * close commits what was handed over. Reopen the same storage with another call to observe what is on disk.
 */
export async function withBackend<B extends Pick<StateBackend, 'close'>, T>(
  backend: B,
  fn: (backend: B) => T | Promise<T>,
): Promise<T> {
  let result: T;
  try {
    result = await fn(backend);
  } catch (e) {
    await backend.close().catch(() => undefined);
    throw e;
  }
  await backend.close();
  return result;
}
