/**
 * examples/hybrid-mesh: runs the README's commands against a dev agent of its own (counts 2 and 2 through
 * NOMAD_VAR_count, nginx on a free port through NOMAD_VAR_port), then what the README promises: every web and
 * stats instance answers through nginx (rendered from the catalog) and through the gateway, also after
 * scaling up; `alloc status -stats` shows usage; a plan beyond the node's capacity reports "exhausted".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';
import { freePort, readmeCommands, runLine, runningAllocs, sampleUntilAll } from './fixtures/examples-support.js';

const lines = readmeCommands('hybrid-mesh');
const allocIdOf = (page: string) => /id="alloc">([0-9a-f-]{36})</.exec(page)?.[1];
const statsAllocOf = (body: string) => {
  try {
    return (JSON.parse(body) as { alloc?: string }).alloc;
  } catch {
    return undefined;
  }
};

describe('examples/hybrid-mesh', () => {
  const agent = new TestAgent();
  let nginxPort = 0;
  const env = () => ({ DROVER_ADDR: agent.address, NOMAD_VAR_count: '2', NOMAD_VAR_port: String(nginxPort) });
  const ids = async (job: string) => (await runningAllocs(agent, job)).map((a) => a.ID);
  const nginxConf = async () => {
    const [lb] = await runningAllocs(agent, 'nginx');
    return readFileSync(join(agent.dataDir, 'client', 'alloc', lb!.ID, 'nginx', 'local', 'nginx.conf'), 'utf8');
  };
  const upstream = (conf: string, name: string) =>
    [...conf.matchAll(/upstream (\S+) \{([^}]*)\}/g)].find((m) => m[1] === name)?.[2];

  /** Every running instance of both jobs answers at `base` (nginx or the gateway). */
  const expectEveryInstanceAt = async (base: string) => {
    const web = await ids('web-server');
    const stats = await ids('stats-api');
    await expect
      .poll(async () => [...(await sampleUntilAll(`${base}/`, web, allocIdOf))].sort(), { timeout: 60_000 })
      .toEqual([...web].sort());
    await expect
      .poll(async () => [...(await sampleUntilAll(`${base}/api/`, stats, statsAllocOf))].sort(), { timeout: 60_000 })
      .toEqual([...stats].sort());
  };

  beforeAll(async () => {
    expect(lines).toHaveLength(3);
    const build = runLine(lines[0]!, {});
    expect(build.code, build.stderr).toBe(0);
    nginxPort = await freePort();
    await agent.start();
  }, 240_000);

  afterAll(async () => {
    await agent.stop();
  });

  it('runs the three jobs, and every instance answers through nginx and through the gateway', async () => {
    expect(lines[1]).toMatch(/agent -dev &$/);
    const r = runLine(lines[2]!, env());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expect.poll(async () => (await ids('web-server')).length, { timeout: 90_000 }).toBe(2);
    await expect.poll(async () => (await ids('stats-api')).length, { timeout: 90_000 }).toBe(2);
    await expect.poll(async () => (await ids('nginx')).length, { timeout: 60_000 }).toBe(1);

    // The page and the stats come from templates: this node's name and core count.
    const node = (await agent.api<Array<{ ID: string; Name: string }>>('/v1/nodes')).body[0]!;
    const full = (await agent.api<{ Attributes: Record<string, string> }>(`/v1/node/${node.ID}`)).body;
    await expect
      .poll(async () => (await fetch(`http://127.0.0.1:${nginxPort}/`).catch(() => undefined))?.status, {
        timeout: 60_000,
      })
      .toBe(200);
    const page = await (await fetch(`http://127.0.0.1:${nginxPort}/`)).text();
    expect(page).toContain(`id="node">${node.Name}</b> (${full.Attributes['cpu.numcores']} cores)`);

    await expectEveryInstanceAt(`http://127.0.0.1:${nginxPort}`);
    await expectEveryInstanceAt(agent.gatewayAddress);
  }, 300_000);

  it('scales up, and nginx and the gateway follow to every new instance', async () => {
    const web = agent.cli(['job', 'scale', 'web-server', '4']);
    expect(web.code, web.stdout + web.stderr).toBe(0);
    const stats = agent.cli(['job', 'scale', 'stats-api', '3']);
    expect(stats.code, stats.stdout + stats.stderr).toBe(0);
    await expect.poll(async () => (await ids('web-server')).length, { timeout: 90_000 }).toBe(4);
    await expect.poll(async () => (await ids('stats-api')).length, { timeout: 90_000 }).toBe(3);

    // nginx's upstreams hold every instance with a port; the port-less stats-api-worker is in the catalog only.
    await expect
      .poll(async () => (upstream(await nginxConf(), 'web')?.match(/server 127\.0\.0\.1:\d+;/g) ?? []).length, {
        timeout: 60_000,
      })
      .toBe(4);
    await expect
      .poll(async () => (upstream(await nginxConf(), 'stats_api')?.match(/server 127\.0\.0\.1:\d+;/g) ?? []).length, {
        timeout: 60_000,
      })
      .toBe(3);
    expect(upstream(await nginxConf(), 'stats_api')).not.toMatch(/:0;|65535/);
    const worker = await agent.api<Array<{ Port: number }>>('/v1/service/stats-api-worker');
    expect(worker.body.map((s) => s.Port)).toEqual([0, 0, 0]);

    await expectEveryInstanceAt(`http://127.0.0.1:${nginxPort}`);
    await expectEveryInstanceAt(agent.gatewayAddress);

    // nginx followed by reloading, never by restarting.
    const [lb] = await runningAllocs(agent, 'nginx');
    const task = (
      await agent.api<{ TaskStates: Record<string, { Restarts: number; Events: Array<{ DisplayMessage: string }> }> }>(
        `/v1/allocation/${lb!.ID}`,
      )
    ).body.TaskStates.nginx!;
    expect(task.Restarts).toBe(0);
    expect(task.Events.map((e) => e.DisplayMessage)).toContain('Task being sent signal SIGHUP: Template re-rendered');
  }, 300_000);

  it('shows memory and CPU use of an instance with alloc status -stats', async () => {
    for (const job of ['web-server', 'stats-api']) {
      const [a] = await runningAllocs(agent, job);
      const r = agent.cli(['alloc', 'status', '-stats', a!.ID]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Memory Stats\nCache\s+Max Usage\s+RSS\s+Swap\s+Usage\n\S/);
      expect(r.stdout).toMatch(/CPU Stats\nPercent\s+System Mode/);
    }
  });

  it('plans more instances than the node holds as exhausted, with exit code 1', () => {
    const file = join('examples', 'hybrid-mesh', 'web-server.nomad.hcl');
    const r = runLine(`bin/drover job plan -var count=2000 ${file}`, { DROVER_ADDR: agent.address });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/Task Group "web" \(failed to place \d+ allocations\)/);
    expect(r.stdout).toMatch(/Resources exhausted on 1 nodes/);
    expect(r.stdout).toMatch(/Dimension "\w+" exhausted on 1 nodes/);
  });
});
