import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dispatchPayloadHook, payloadPath, withDispatchPayload } from './dispatch-payload.js';
import type { TaskHookContext } from './hooks.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function ctx(file: string | undefined, payload: string | null): { c: TaskHookContext; local: string } {
  const local = mkdtempSync(join(tmpdir(), 'drover-payload-'));
  dirs.push(local);
  const c = {
    task: { Name: 't', DispatchPayload: file ? { File: file } : null },
    alloc: { Job: { Payload: payload } },
    dirs: { localDir: local },
  } as unknown as TaskHookContext;
  return { c, local };
}

describe('the dispatch payload hook', () => {
  it('writes the decoded payload to local/<file>, creating sub directories', async () => {
    const { c, local } = ctx('in/data.bin', Buffer.from([0, 1, 2, 255]).toString('base64'));
    await dispatchPayloadHook.prestart!(c);
    expect([...readFileSync(join(local, 'in/data.bin'))]).toEqual([0, 1, 2, 255]);
  });

  it('refuses a file name that leaves the local dir', () => {
    expect(() => payloadPath('/tmp/x/local', '../../etc/passwd')).toThrow(/escapes/);
    expect(payloadPath('/tmp/x/local', 'a/b.txt')).toBe('/tmp/x/local/a/b.txt');
  });

  it('is added only to tasks with a dispatch_payload block', () => {
    const f = withDispatchPayload(undefined);
    const args = (file?: string) => ({
      alloc: {} as never,
      group: {} as never,
      task: { DispatchPayload: file ? { File: file } : null } as never,
    });
    expect(f(args('x')).map((h) => h.name)).toEqual(['dispatch_payload']);
    expect(f(args())).toEqual([]);
  });
});
