/**
 * Writes a dispatched job's payload to `<task dir>/local/<dispatch_payload.file>` before the task
 * starts, as Nomad's dispatch hook does. Tasks without a `dispatch_payload` block, and jobs without a
 * payload, are left alone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { confinedPath } from './alloc-dir.js';
import type { TaskHook, TaskHookFactory } from './hooks.js';

/** The payload file's path, refusing one that would leave the task's local dir. */
export function payloadPath(localDir: string, file: string): string {
  try {
    return confinedPath(localDir, file);
  } catch {
    throw new Error(`dispatch_payload file "${file}" escapes the task's local dir`);
  }
}

export const dispatchPayloadHook: TaskHook = {
  name: 'dispatch_payload',
  async prestart(ctx) {
    const file = ctx.task.DispatchPayload?.File;
    const payload = ctx.alloc.Job?.Payload;
    if (!file || payload == null || payload === '') return;
    const path = payloadPath(ctx.dirs.localDir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, Buffer.from(payload, 'base64'), { mode: 0o644 });
  },
};

/** Puts the dispatch payload hook before the hooks `extra` builds. */
export function withDispatchPayload(extra: TaskHookFactory | undefined): TaskHookFactory {
  return (args) =>
    args.task.DispatchPayload?.File ? [dispatchPayloadHook, ...(extra?.(args) ?? [])] : (extra?.(args) ?? []);
}
