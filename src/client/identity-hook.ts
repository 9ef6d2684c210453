/**
 * Hands a task its workload identity (the JWT the servers signed into `alloc.SignedIdentities`), as Nomad's
 * identity hook: `identity { env = true }` puts it in `NOMAD_TOKEN`, `file = true` in `secrets/nomad_token`
 * (mode 0600). Tasks without an identity block, or allocations from servers with ACLs off, get nothing.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Allocation, Task } from '../structs/index.js';
import type { TaskHook, TaskHookFactory } from './hooks.js';

/** The task's signed identity, when the servers signed one. */
export function taskIdentityToken(alloc: Allocation, task: Task): string | undefined {
  return alloc.SignedIdentities?.[task.Name] || undefined;
}

export const identityHook: TaskHook = {
  name: 'identity',
  async prestart(ctx) {
    const token = taskIdentityToken(ctx.alloc, ctx.task);
    const id = ctx.task.Identity as { Env?: boolean; File?: boolean } | null | undefined;
    if (!token || !id) return;
    if (id.File) await writeFile(join(ctx.dirs.secretsDir, 'nomad_token'), token, { mode: 0o600 });
    return id.Env ? { env: { NOMAD_TOKEN: token } } : undefined;
  },
};

/** Puts the identity hook before the hooks `extra` builds (templates may read with the identity). */
export function withIdentity(extra: TaskHookFactory): TaskHookFactory {
  return (args) => (args.task.Identity ? [identityHook, ...extra(args)] : extra(args));
}
