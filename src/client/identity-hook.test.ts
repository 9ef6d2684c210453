import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Allocation, Task } from '../structs/index.js';
import type { TaskHookContext } from './hooks.js';
import { identityHook } from './identity-hook.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function ctx(identity: Record<string, unknown> | null, signed: Record<string, string> | null): TaskHookContext {
  const secretsDir = mkdtempSync(join(tmpdir(), 'drover-identity-'));
  dirs.push(secretsDir);
  const task = { Name: 't', Identity: identity } as unknown as Task;
  const alloc = { ID: 'a', SignedIdentities: signed } as unknown as Allocation;
  return { task, alloc, dirs: { secretsDir } } as unknown as TaskHookContext;
}

describe('the identity hook', () => {
  it('puts the signed identity in NOMAD_TOKEN with env = true and in secrets/nomad_token (0600) with file = true', async () => {
    const c = ctx({ Env: true, File: true }, { t: 'jwt-1' });
    expect(await identityHook.prestart!(c)).toEqual({ env: { NOMAD_TOKEN: 'jwt-1' } });
    const f = join(c.dirs.secretsDir, 'nomad_token');
    expect(readFileSync(f, 'utf8')).toBe('jwt-1');
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('gives nothing when the servers signed no identity (ACLs off) or the task asks for none', async () => {
    expect(await identityHook.prestart!(ctx({ Env: true }, null))).toBeUndefined();
    expect(await identityHook.prestart!(ctx(null, { t: 'jwt-1' }))).toBeUndefined();
    expect(await identityHook.prestart!(ctx({ Env: false, File: false }, { t: 'jwt-1' }))).toBeUndefined();
  });
});
