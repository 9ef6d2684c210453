/**
 * A server with its state on a 3-member etcd (`-etcd URL,...` or `server { etcd { endpoints } }`): it keeps
 * working when one etcd member is SIGKILLed, and a new agent with an empty data dir, pointed at the same
 * etcd, finds every acknowledged job and allocation.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROVER, TestAgent } from './harness/agent.js';
import { startEtcd, type TestEtcd } from './harness/etcd.js';

const JOB = `job "kept" {
  datacenters = ["dc1"]
  group "g" {
    count = 3
    task "t" {
      driver = "mock_driver"
      config {
        run_for = "1h"
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}`;

type Stub = { ID: string; ClientStatus: string };

describe('a server with its state on etcd', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-etcd-state-'));
  let etcd: TestEtcd;
  const agents: TestAgent[] = [];

  beforeAll(async () => {
    etcd = await startEtcd({ members: 3 });
    writeFileSync(join(dir, 'kept.nomad.hcl'), JOB);
  }, 60_000);
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps serving writes when an etcd member dies, and a new agent with an empty data dir finds every write', async () => {
    const first = new TestAgent({ args: ['-etcd', etcd.endpoints.join(',')] });
    agents.push(first);
    await first.start();
    await first.waitFor(
      'the state store opened on etcd',
      async () =>
        /"etcd":"http:\/\/127\.0\.0\.1:\d+,.*"prefix":"\/drover\/global\/","msg":"state store opened"/.test(
          first.output,
        ),
      10_000,
    );
    const run = first.cli(['job', 'run', '-detach', join(dir, 'kept.nomad.hcl')]);
    expect(run.code, run.stderr).toBe(0);
    const running = async (a: TestAgent) =>
      (await a.api<Stub[]>('/v1/job/kept/allocations')).body.filter((x) => x.ClientStatus === 'running');
    await first.waitFor('3 running allocations', async () => (await running(first)).length === 3);

    await etcd.kill(2);
    const scaled = first.cli(['job', 'scale', '-detach', 'kept', 'g', '4']);
    expect(scaled.code, scaled.stderr).toBe(0);
    await first.waitFor('4 running allocations', async () => (await running(first)).length === 4);
    const before = (await first.api<Stub[]>('/v1/allocations')).body.map((a) => a.ID).sort();
    expect(before).toHaveLength(4);
    await first.kill();

    // The second agent reads its etcd endpoints from a config file, and has none of the first one's files.
    const config = join(dir, 'agent.hcl');
    writeFileSync(
      config,
      `server {\n  etcd {\n    endpoints = ${JSON.stringify(etcd.endpoints.slice(0, 2))}\n  }\n}\n`,
    );
    const second = new TestAgent({ args: ['-config', config] });
    agents.push(second);
    await second.start();
    // The killed agent's leader lease runs out within its 2 s TTL; then the second agent leads.
    const after = await second.waitFor(
      'the second agent to lead',
      async () => {
        const r = await second.api<Stub[]>('/v1/allocations');
        return Array.isArray(r.body) ? r.body.map((x) => x.ID) : undefined;
      },
      15_000,
    );
    expect(after).toEqual(expect.arrayContaining(before));
    expect(
      (await second.api<{ TaskGroups: Array<{ Count: number }>; Version: number }>('/v1/job/kept')).body,
    ).toMatchObject({ TaskGroups: [{ Count: 4 }], Version: 1 });
  }, 120_000);

  it('refuses to start when no etcd endpoint answers, naming the endpoints', () => {
    const data = mkdtempSync(join(tmpdir(), 'drover-etcd-down-'));
    try {
      const r = spawnSync(
        DROVER,
        ['agent', '-server', '-data-dir', data, '-http-port', '0', '-etcd', 'http://127.0.0.1:1'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/no etcd endpoint answered \(http:\/\/127\.0\.0\.1:1\)/);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('refuses an etcd endpoint that is not an http URL', () => {
    const r = spawnSync(DROVER, ['agent', '-server', '-http-port', '0', '-etcd', '127.0.0.1:2379'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      /Invalid -etcd: etcd endpoint "127\.0\.0\.1:2379" must be an http:\/\/host:port client URL/,
    );
  });
});
