import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DroverClient } from '../../api/index.js';
import { captureCli } from '../../cli/testing/run-cli.js';
import type { Server } from '../../server/index.js';
import { newFakeScheduler } from '../../server/testing/fake-scheduler.js';
import type { HttpApi } from '../server.js';
import { testAgent } from '../testing/test-api.js';
import { cleanupAfterEach, tempDirFor } from '../../testing/cleanup.js';

const cleanups = cleanupAfterEach();

async function agent(
  dir = mkdtempSync(join(tmpdir(), 'drover-vars-')),
): Promise<{ server: Server; http: HttpApi; dir: string; client: DroverClient }> {
  const { server, http, stop } = await testAgent({ dataDir: dir, newScheduler: newFakeScheduler });
  cleanups.push(stop);
  return { server, http, dir, client: new DroverClient({ address: http.address }) };
}

function tempDir(): string {
  return tempDirFor(cleanups, 'drover-vars-');
}

async function raw(a: HttpApi, method: string, path: string, body?: unknown) {
  const res = await fetch(`${a.address}${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    index: Number(res.headers.get('x-nomad-index') ?? -1),
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

describe('the variables API', () => {
  it('writes, reads, lists and deletes a variable whose path has slashes, with Nomad JSON and indexes', async () => {
    const a = await agent(tempDir());
    const put = await raw(a.http, 'PUT', '/v1/var/nomad/jobs/web/db', {
      Namespace: 'default',
      Path: 'nomad/jobs/web/db',
      Items: { user: 'app', pass: 's3cret' },
    });
    expect(put.status).toBe(200);
    const written = put.json();
    expect(written).toMatchObject({
      Namespace: 'default',
      Path: 'nomad/jobs/web/db',
      Items: { user: 'app', pass: 's3cret' },
    });
    expect(written.ModifyIndex).toBe(put.index);
    expect(written.CreateIndex).toBe(written.ModifyIndex);
    expect(written.CreateTime).toBeGreaterThan(1e18);

    const got = await raw(a.http, 'GET', '/v1/var/nomad/jobs/web/db');
    expect(got.json()).toEqual(written);
    expect(got.index).toBe(put.index);

    await a.client.variables.put('other/thing', { k: 'v' });
    const list = (await a.client.variables.list({ prefix: 'nomad/' })).value;
    expect(list).toEqual([
      {
        Namespace: 'default',
        Path: 'nomad/jobs/web/db',
        CreateIndex: written.CreateIndex,
        ModifyIndex: written.ModifyIndex,
        CreateTime: written.CreateTime,
        ModifyTime: written.ModifyTime,
      },
    ]);
    expect((await a.client.variables.list()).value.map((v) => v.Path)).toEqual(['nomad/jobs/web/db', 'other/thing']);

    expect((await raw(a.http, 'DELETE', '/v1/var/nomad/jobs/web/db')).status).toBe(200);
    const gone = await raw(a.http, 'GET', '/v1/var/nomad/jobs/web/db');
    expect(gone.status).toBe(404);
    expect(gone.text).toBe('variable not found');
    expect(gone.index).toBeGreaterThan(put.index);
  });

  it('applies check-and-set: cas=0 only creates, a stale index answers 409 with the current variable', async () => {
    const a = await agent(tempDir());
    const first = await raw(a.http, 'PUT', '/v1/var/app/config?cas=0', { Items: { a: '1' } });
    expect(first.status).toBe(200);
    const again = await raw(a.http, 'PUT', '/v1/var/app/config?cas=0', { Items: { a: '2' } });
    expect(again.status).toBe(409);
    expect(again.json()).toMatchObject({
      Path: 'app/config',
      Items: { a: '1' },
      ModifyIndex: first.json().ModifyIndex,
    });
    const idx = first.json().ModifyIndex as number;
    expect((await raw(a.http, 'PUT', `/v1/var/app/config?cas=${idx}`, { Items: { a: '3' } })).status).toBe(200);
    const stale = await a.client.variables.put('app/config', { a: '4' }, { cas: idx });
    expect(stale.ok).toBe(false);
    if (!stale.ok) expect(stale.conflict.Items).toEqual({ a: '3' });
    expect((await raw(a.http, 'DELETE', `/v1/var/app/config?cas=${idx}`)).status).toBe(409);
    expect((await a.client.variables.get('app/config')).value.Items).toEqual({ a: '3' });
  });

  it('rejects invalid paths and empty variables with every problem', async () => {
    const a = await agent(tempDir());
    const bad = await raw(a.http, 'PUT', '/v1/var/nomad/secret', { Items: {} });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('nomad/jobs');
    expect(bad.text).toContain('empty variables are invalid');
    expect((await raw(a.http, 'PUT', '/v1/var/bad%20path', { Items: { a: '1' } })).status).toBe(400);
  });

  it('answers a blocking query when the variable changes, not before', async () => {
    const a = await agent(tempDir());
    const put = await raw(a.http, 'PUT', '/v1/var/nomad/jobs/tpl', { Items: { greeting: 'hi' } });
    const started = Date.now();
    const blocked = raw(a.http, 'GET', `/v1/var/nomad/jobs/tpl?index=${put.index}&wait=10s`);
    let done = false;
    void blocked.then(() => (done = true));
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    await a.client.variables.put('nomad/jobs/tpl', { greeting: 'hi2' });
    const res = await blocked;
    expect(res.json().Items).toEqual({ greeting: 'hi2' });
    expect(res.index).toBeGreaterThan(put.index);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('keeps variables across a restart of the server (SQLite)', async () => {
    const dir = tempDir();
    const a = await agent(dir);
    await a.client.variables.put('nomad/jobs/keep', { x: 'y' });
    await cleanups.pop()!();
    const b = await agent(dir);
    expect((await b.client.variables.get('nomad/jobs/keep')).value.Items).toEqual({ x: 'y' });
  });
});

describe('drover var', () => {
  const cli = (address: string, argv: string[]) => captureCli(argv, { DROVER_ADDR: address });

  it('puts, gets, lists and purges like nomad var', async () => {
    const a = await agent(tempDir());
    const cert = join(tempDir(), 'cert.pem');
    writeFileSync(cert, 'PEM');
    const put = await cli(a.http.address, ['var', 'put', 'nomad/jobs/tpl', 'greeting=hi', `cert=@${cert}`]);
    expect(put.stderr).toBe('');
    expect(put.stdout).toMatch(/^Created variable "nomad\/jobs\/tpl" with modify index \d+\n$/);
    const item = await cli(a.http.address, ['var', 'get', '-item', 'greeting', 'nomad/jobs/tpl']);
    expect(item.stdout).toBe('hi\n');
    const full = await cli(a.http.address, ['var', 'get', 'nomad/jobs/tpl']);
    expect(full.stdout).toMatch(/Namespace\s+= default\nPath\s+= nomad\/jobs\/tpl\n/);
    expect(full.stdout).toMatch(/Items\ncert\s+= PEM\ngreeting = hi\n/);
    const list = await cli(a.http.address, ['var', 'list', 'nomad']);
    expect(list.stdout).toMatch(/^Namespace\s+Path\s+Last Updated\ndefault\s+nomad\/jobs\/tpl\s+/);
    const conflict = await cli(a.http.address, ['var', 'put', '-check-index', '999', 'nomad/jobs/tpl', 'greeting=x']);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('Check-and-Set conflict');
    const purge = await cli(a.http.address, ['var', 'purge', 'nomad/jobs/tpl']);
    expect(purge.stdout).toBe('Successfully purged variable "nomad/jobs/tpl"!\n');
    const missing = await cli(a.http.address, ['var', 'get', 'nomad/jobs/tpl']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('variable not found');
  });
});
