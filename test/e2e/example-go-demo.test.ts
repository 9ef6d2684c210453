/**
 * examples/go-demo: runs the README's three commands (free ports swapped in): cluster.sh starts a server with
 * the gateway and DNS and three client agents, the database and the API run, and /demo/hello answers through
 * the gateway. Then what the README promises: `job scale go-demo 5` with every instance answering, a person
 * stored through the API, the greeting from the KV store, the util task's dig of go-demo-db, and lose-node.sh
 * moving node-3's instances to the other nodes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT, TestAgent, killProcessesUnder } from './harness/agent.js';
import {
  freePort,
  freePortRun,
  readmeCommands,
  runLine,
  runningAllocs,
  sampleUntilAll,
  stopScript,
} from './fixtures/examples-support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'drover-exa-go-demo-'));
const lines = readmeCommands('go-demo');

describe('examples/go-demo', () => {
  let script: ChildProcess | undefined;
  let port = 0;
  let gatewayPort = 0;
  let dnsPort = 0;
  /** The server, through TestAgent's API and CLI helpers (cluster.sh runs it). */
  const server = new TestAgent({ dataDir: join(dataDir, 'unused') });
  const env = () => ({
    PORT: String(port),
    GATEWAY_PORT: String(gatewayPort),
    DNS_PORT: String(dnsPort),
    DATA_DIR: dataDir,
    DROVER_ADDR: server.address,
    NOMAD_VAR_dns_port: String(dnsPort),
  });
  const gateway = () => `http://127.0.0.1:${gatewayPort}`;
  const withPorts = (l: string) => l.replaceAll('127.0.0.1:8080', `127.0.0.1:${gatewayPort}`);
  const drover = (args: string) => runLine(`bin/drover ${args}`, env());

  beforeAll(async () => {
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/&$/);
    port = await freePortRun(4);
    gatewayPort = await freePort();
    dnsPort = await freePort();
    server.address = `http://127.0.0.1:${port}`;
    script = spawn('sh', ['-c', lines[0]!.replace(/&$/, '')], {
      cwd: ROOT,
      env: { ...process.env, ...env() },
      stdio: 'ignore',
      detached: true,
    });
    await vi.waitFor(
      async () => {
        const r = await server.api<Array<{ Status: string }>>('/v1/nodes');
        expect(Array.isArray(r.body) ? r.body.filter((n) => n.Status === 'ready').length : 0).toBe(3);
      },
      { timeout: 120_000, interval: 500 },
    );
  }, 150_000);

  afterAll(async () => {
    for (const job of ['go-demo', 'go-demo-db', 'go-demo-util'])
      await fetch(`http://127.0.0.1:${port}/v1/job/${job}?purge=true`, { method: 'DELETE' }).catch(() => undefined);
    await stopScript(script);
    killProcessesUnder(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the database and the API, and answers /demo/hello through the gateway', async () => {
    const r = runLine(lines[1]!, env());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expect.poll(async () => (await runningAllocs(server, 'go-demo-db')).length, { timeout: 60_000 }).toBe(1);
    await expect.poll(async () => (await runningAllocs(server, 'go-demo')).length, { timeout: 60_000 }).toBe(3);
    await expect
      .poll(() => runLine(withPorts(lines[2]!), {}).stdout, { timeout: 60_000 })
      .toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*x-alloc-id: [0-9a-f-]{36}\r\n[\s\S]*\r\n\r\nhello, world!\n$/i);
  }, 120_000);

  it('scales to five instances, every one answering through the gateway', async () => {
    const r = drover('job scale go-demo 5');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expect.poll(async () => (await runningAllocs(server, 'go-demo')).length, { timeout: 60_000 }).toBe(5);
    const all = await runningAllocs(server, 'go-demo');
    expect(new Set(all.map((a) => a.NodeName))).toEqual(new Set(['node-1', 'node-2', 'node-3']));
    const ids = all.map((a) => a.ID).sort();
    await expect
      .poll(
        async () =>
          [
            ...(await sampleUntilAll(`${gateway()}/demo/hello`, ids, (_b, h) => h.get('x-alloc-id') ?? undefined)),
          ].sort(),
        {
          timeout: 60_000,
        },
      )
      .toEqual(ids);
  }, 120_000);

  it('stores a person through the API in the database', async () => {
    const put = await fetch(`${gateway()}/demo/person?name=ann`, { method: 'PUT' });
    expect(put.status).toBe(200);
    expect(await put.text()).toBe('saved\n');
    const get = await fetch(`${gateway()}/demo/person`);
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual(['ann']);
  });

  it('answers with the greeting put in the KV store', async () => {
    const r = drover('kv put go-demo/greeting Drover');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const greetings = async () => {
      const seen: string[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${gateway()}/demo/hello`, { signal: AbortSignal.timeout(5_000) }).catch(
          () => undefined,
        );
        seen.push(res ? `${res.status} ${await res.text()}` : 'failed');
      }
      return [...new Set(seen)];
    };
    await expect.poll(greetings, { timeout: 90_000, interval: 1_000 }).toEqual(['200 hello, Drover!\n']);
  }, 120_000);

  it('resolves go-demo-db with dig from a task, against the agent DNS', async () => {
    const r = drover('job run examples/go-demo/go-demo-util.nomad.hcl');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const alloc = await server.waitFor('the util task to finish', async () => {
      const list = (await server.api<Array<{ ID: string; ClientStatus: string }>>('/v1/job/go-demo-util/allocations'))
        .body;
      return Array.isArray(list) ? list.find((a) => a.ClientStatus === 'complete') : undefined;
    });
    const [db] = (await server.api<Array<{ Address: string; Port: number }>>('/v1/service/go-demo-db')).body;
    const logs = drover(`alloc logs ${alloc.ID}`);
    expect(logs.code, logs.stderr).toBe(0);
    const hex = db!.Address.split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('');
    expect(logs.stdout).toBe(`${db!.Address}\n1 1 ${db!.Port} ${hex}.addr.dc1.drover.\n`);
  }, 120_000);

  it('moves the instances of a lost node to the other nodes, and the gateway keeps answering', async () => {
    const before = await runningAllocs(server, 'go-demo');
    const lost = new Set(before.filter((a) => a.NodeName === 'node-3').map((a) => a.ID));
    expect(lost.size).toBeGreaterThan(0);
    const r = runLine('examples/go-demo/lose-node.sh node-3', env());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/before losing node-3:\n( {2}node-\d \d\n)* {2}node-3 \d\n/);
    expect(r.stdout).toMatch(/after node-3 went down:\n {2}node-1 \d\n {2}node-2 \d\n$/);
    const after = await runningAllocs(server, 'go-demo');
    expect(after).toHaveLength(5);
    expect(after.filter((a) => a.NodeName === 'node-3' || lost.has(a.ID))).toEqual([]);
    const ids = after.map((a) => a.ID).sort();
    await expect
      .poll(
        async () =>
          [
            ...(await sampleUntilAll(`${gateway()}/demo/hello`, ids, (_b, h) => h.get('x-alloc-id') ?? undefined)),
          ].sort(),
        {
          timeout: 60_000,
        },
      )
      .toEqual(ids);
  }, 150_000);
});
