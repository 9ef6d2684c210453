import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DroverClient } from '../../api/index.js';
import { runCli } from '../../cli/run.js';
import { newFakeScheduler } from '../../server/testing/fake-scheduler.js';
import type { HttpApi } from '../server.js';
import { testAgent } from '../testing/test-api.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function agent(): Promise<{ http: HttpApi; client: DroverClient; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'drover-kv-'));
  const { http, stop } = await testAgent({ dataDir: dir, newScheduler: newFakeScheduler });
  cleanups.push(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { http, client: new DroverClient({ address: http.address }), dir };
}

async function call(a: HttpApi, method: string, path: string, body?: string | Buffer) {
  const res = await fetch(`${a.address}${path}`, { method, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    index: Number(res.headers.get('x-consul-index') ?? -1),
    nomadIndex: Number(res.headers.get('x-nomad-index') ?? -1),
    text: bytes.toString('utf8'),
    bytes,
    json: () => JSON.parse(bytes.toString('utf8')) as unknown,
  };
}

async function cli(a: HttpApi, ...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['-address', a.address, ...argv], {
    stdout: { write: (s: string | Uint8Array) => ((stdout += String(s)), true) },
    stderr: { write: (s: string | Uint8Array) => ((stderr += String(s)), true) },
    env: {},
  } as never);
  return { code, stdout, stderr };
}

describe('the Consul-compatible KV API', () => {
  it("stores seed 003's curl PUT unchanged and answers it as Consul: base64 JSON, ?raw bytes, 404 when absent", async () => {
    const a = await agent();
    const put = await call(a.http, 'PUT', '/v1/kv/msg1', 'this is a test');
    expect(put.status).toBe(200);
    expect(put.text).toBe('true');
    const got = await call(a.http, 'GET', '/v1/kv/msg1');
    expect(got.status).toBe(200);
    expect(got.json()).toEqual([
      {
        LockIndex: 0,
        Key: 'msg1',
        Flags: 0,
        Value: Buffer.from('this is a test').toString('base64'),
        CreateIndex: put.index,
        ModifyIndex: put.index,
      },
    ]);
    expect(got.index).toBe(put.index);
    expect(got.nomadIndex).toBe(put.index);
    const raw = await call(a.http, 'GET', '/v1/kv/msg1?raw');
    expect(raw.text).toBe('this is a test');
    const missing = await call(a.http, 'GET', '/v1/kv/nope');
    expect(missing.status).toBe(404);
    expect(missing.text).toBe('');
    expect(missing.index).toBeGreaterThanOrEqual(put.index);
  });

  it('keeps binary values and flags, and answers an empty value as null', async () => {
    const a = await agent();
    const bin = Buffer.from([0, 1, 2, 255, 254]);
    await call(a.http, 'PUT', '/v1/kv/bin?flags=42', bin);
    const got = (await call(a.http, 'GET', '/v1/kv/bin')).json() as Array<{ Flags: number; Value: string }>;
    expect(got[0]!.Flags).toBe(42);
    expect(Buffer.from(got[0]!.Value, 'base64')).toEqual(bin);
    expect((await call(a.http, 'GET', '/v1/kv/bin?raw')).bytes).toEqual(bin);
    await call(a.http, 'PUT', '/v1/kv/empty', '');
    expect(((await call(a.http, 'GET', '/v1/kv/empty')).json() as Array<{ Value: unknown }>)[0]!.Value).toBeNull();
  });

  it('lists recursively and by key names with a separator, telling the prefix "a/" from "a"', async () => {
    const a = await agent();
    for (const k of ['app/db/user', 'app/db/pass', 'app/name', 'apple', 'other'])
      await call(a.http, 'PUT', `/v1/kv/${k}`, k);
    const rec = (await call(a.http, 'GET', '/v1/kv/app/?recurse')).json() as Array<{ Key: string }>;
    expect(rec.map((e) => e.Key)).toEqual(['app/db/pass', 'app/db/user', 'app/name']);
    expect((await call(a.http, 'GET', '/v1/kv/app?keys')).json()).toEqual([
      'app/db/pass',
      'app/db/user',
      'app/name',
      'apple',
    ]);
    expect((await call(a.http, 'GET', '/v1/kv/app/?keys&separator=/')).json()).toEqual(['app/db/', 'app/name']);
    expect((await call(a.http, 'GET', '/v1/kv/?keys&separator=/')).json()).toEqual(['app/', 'apple', 'other']);
    expect((await call(a.http, 'GET', '/v1/kv/zzz?recurse')).status).toBe(404);
  });

  it('applies check-and-set on writes and deletes, answering false without writing', async () => {
    const a = await agent();
    expect((await call(a.http, 'PUT', '/v1/kv/c?cas=0', 'one')).text).toBe('true');
    expect((await call(a.http, 'PUT', '/v1/kv/c?cas=0', 'two')).text).toBe('false');
    const idx = ((await call(a.http, 'GET', '/v1/kv/c')).json() as Array<{ ModifyIndex: number }>)[0]!.ModifyIndex;
    expect((await call(a.http, 'PUT', `/v1/kv/c?cas=${idx + 100}`, 'three')).text).toBe('false');
    expect((await call(a.http, 'PUT', `/v1/kv/c?cas=${idx}`, 'four')).text).toBe('true');
    expect((await call(a.http, 'GET', '/v1/kv/c?raw')).text).toBe('four');
    expect((await call(a.http, 'DELETE', `/v1/kv/c?cas=${idx}`)).text).toBe('false');
    expect((await call(a.http, 'GET', '/v1/kv/c?raw')).text).toBe('four');
  });

  it('deletes one key, or a whole prefix with recurse, leaving neighbours alone', async () => {
    const a = await agent();
    for (const k of ['t/a', 't/b/c', 'tx']) await call(a.http, 'PUT', `/v1/kv/${k}`, 'v');
    expect((await call(a.http, 'DELETE', '/v1/kv/t/a')).text).toBe('true');
    expect((await call(a.http, 'GET', '/v1/kv/t/a')).status).toBe(404);
    expect((await call(a.http, 'DELETE', '/v1/kv/t/?recurse')).text).toBe('true');
    expect((await call(a.http, 'GET', '/v1/kv/?keys')).json()).toEqual(['tx']);
  });

  it('answers a blocking read when the store changes, with the new value', async () => {
    const a = await agent();
    const first = await call(a.http, 'PUT', '/v1/kv/watched', 'v1');
    const waiting = call(a.http, 'GET', `/v1/kv/watched?index=${first.index}&wait=30s`);
    await call(a.http, 'PUT', '/v1/kv/watched', 'v2');
    const woke = await waiting;
    expect(woke.index).toBeGreaterThan(first.index);
    expect(Buffer.from((woke.json() as Array<{ Value: string }>)[0]!.Value, 'base64').toString()).toBe('v2');
  });

  it('refuses bad keys, oversized values and sessions with a clear error, storing nothing', async () => {
    const a = await agent();
    const ctl = await call(a.http, 'PUT', '/v1/kv/bad%00key', 'x');
    expect(ctl.status).toBe(400);
    expect(ctl.text).toContain('control character');
    // An encoded slash keeps the URL parser from resolving the dot segment before it is sent.
    const dots = await call(a.http, 'PUT', '/v1/kv/a%2F..%2Fb', 'x');
    expect(dots.status).toBe(400);
    expect(dots.text).toContain('".."');
    const long = await call(a.http, 'PUT', `/v1/kv/${'k'.repeat(2000)}`, 'x');
    expect(long.status).toBe(400);
    expect(long.text).toContain('the limit is 1024');
    const big = await call(a.http, 'PUT', '/v1/kv/big', Buffer.alloc(512 * 1024 + 1, 97));
    expect(big.status).toBe(413);
    expect(big.text).toContain('max size: 524288 bytes');
    expect((await call(a.http, 'PUT', '/v1/kv/big', Buffer.alloc(512 * 1024, 97))).text).toBe('true');
    expect((await call(a.http, 'PUT', '/v1/kv/f?flags=-1', 'x')).status).toBe(400);
    expect((await call(a.http, 'PUT', '/v1/kv/s?acquire=abc', 'x')).status).toBe(400);
    expect((await call(a.http, 'PUT', '/v1/kv/', 'x')).status).toBe(400);
    expect((await call(a.http, 'GET', '/v1/kv/?keys')).json()).toEqual(['big']);
  });

  it('drives put, get, get -recurse, get -keys and delete through the CLI as consul kv', async () => {
    const a = await agent();
    expect(await cli(a.http, 'kv', 'put', 'cfg/port', '8080')).toMatchObject({
      code: 0,
      stdout: 'Success! Data written to: cfg/port\n',
    });
    await cli(a.http, 'kv', 'put', 'cfg/host', 'localhost');
    expect((await cli(a.http, 'kv', 'get', 'cfg/port')).stdout).toBe('8080\n');
    expect((await cli(a.http, 'kv', 'get', '-recurse', 'cfg/')).stdout).toBe('cfg/host:localhost\ncfg/port:8080\n');
    expect((await cli(a.http, 'kv', 'get', '-keys', '')).stdout).toBe('cfg/\n');
    const missing = await cli(a.http, 'kv', 'get', 'cfg/none');
    expect(missing).toMatchObject({ code: 1, stderr: 'Error! No key exists at: cfg/none\n' });
    const idx = (await a.client.kv.get('cfg/port')).value!.ModifyIndex;
    const stale = await cli(a.http, 'kv', 'put', '-cas', '-modify-index', String(idx + 100), 'cfg/port', '9090');
    expect(stale).toMatchObject({ code: 1, stderr: 'Error! Did not write to cfg/port: CAS failed\n' });
    expect((await cli(a.http, 'kv', 'put', '-cas', '-modify-index', String(idx), 'cfg/port', '9090')).code).toBe(0);
    expect((await cli(a.http, 'kv', 'get', '-detailed', 'cfg/port')).stdout).toMatch(
      /ModifyIndex\s+= \d+[\s\S]*Value\s+= 9090/,
    );
    expect((await cli(a.http, 'kv', 'delete', '-recurse', 'cfg/')).stdout).toBe(
      'Success! Deleted keys with prefix: cfg/\n',
    );
    expect((await a.client.kv.list('')).value).toEqual([]);
  });
});
