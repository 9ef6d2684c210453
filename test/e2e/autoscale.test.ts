/**
 * The autoscaler as a user of `drover agent -dev` meets it (issue #20): job files with a `scaling { policy }`
 * block, a load the test switches on and off, and the outcome read back through the CLI and the HTTP API.
 *
 * One agent for both policies. The CPU job's tasks burn about 10% of a core each (about 12 ms every 100 ms) while
 * a flag file exists, so four of them stay cheap on two cores; the gateway job is driven by a bounded loopback
 * request loop through the agent's own gateway.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';

const BURN_JS = `const fs = require('node:fs'); const f = process.env.BURN_FLAG; setInterval(() => { if (fs.existsSync(f)) { const t = Date.now() + 12; while (Date.now() < t) {} } }, 100)`;
const SERVE_JS = `require('node:http').createServer((q, s) => s.end('alloc ' + process.env.NOMAD_ALLOC_ID)).listen(Number(process.env.NOMAD_PORT_http), '127.0.0.1')`;

function cpuJob(flag: string): string {
  return `job "autoscale-cpu" {
  datacenters = ["dc1"]
  group "burn" {
    count = 2
    update {
      health_check     = "task_states"
      min_healthy_time = "5s"
      healthy_deadline = "2m"
      progress_deadline = "5m"
    }
    scaling {
      min = 2
      max = 4
      policy {
        evaluation_interval = "2s"
        cooldown            = "5s"
        check "cpu" {
          source = "nomad-apm"
          query  = "avg_cpu"
          strategy "target-value" {
            target = 50
          }
        }
      }
    }
    task "burn" {
      driver = "raw_exec"
      config {
        command = "node"
        args    = ["-e", ${JSON.stringify(BURN_JS)}]
      }
      env {
        BURN_FLAG = "${flag}"
      }
      resources {
        cpu    = 100
        memory = 64
      }
      kill_timeout = "2s"
    }
  }
}`;
}

const RPS_JOB = `job "autoscale-rps" {
  datacenters = ["dc1"]
  group "web" {
    count = 1
    update {
      health_check     = "task_states"
      min_healthy_time = "1s"
    }
    network {
      port "http" {}
    }
    service {
      name     = "autoscale-rps"
      provider = "nomad"
      port     = "http"
      tags     = ["urlprefix-/autoscale-rps"]
    }
    scaling {
      min = 1
      max = 3
      policy {
        evaluation_interval = "2s"
        cooldown            = "4s"
        check "rps" {
          source = "drover-gateway"
          query  = "request_rate_per_instance:/autoscale-rps"
          strategy "target-value" {
            target = 4
          }
        }
      }
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = "node"
        args    = ["-e", ${JSON.stringify(SERVE_JS)}]
      }
      resources {
        cpu    = 50
        memory = 48
      }
      kill_timeout = "2s"
    }
  }
}`;

interface ScalingEvent {
  Count: number | null;
  PreviousCount: number;
  Message: string;
  Error: boolean;
  Meta: { checks?: Record<string, { metric?: number }> } | null;
}
interface ScaleStatus {
  TaskGroups: Record<string, { Desired: number; Events: ScalingEvent[] | null }>;
}

describe('the autoscaler of a dev agent', () => {
  const agent = new TestAgent();
  const dir = mkdtempSync(join(tmpdir(), 'autoscale-e2e-'));
  const flag = join(dir, 'burn.flag');
  const load = new AbortController();

  beforeAll(async () => {
    await agent.start();
  });
  afterAll(async () => {
    load.abort();
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async (job: string, group: string) =>
    (await agent.api<ScaleStatus>(`/v1/job/${job}/scale`)).body.TaskGroups[group]!;

  it('lists the policies through the CLI and refuses a policy it cannot read', () => {
    writeFileSync(join(dir, 'bad.hcl'), cpuJob(flag).replace('target = 50', 'target = "half"'));
    const bad = agent.cli(['job', 'run', '-detach', join(dir, 'bad.hcl')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr + bad.stdout).toMatch(/Scaling\.Policy\.check\["cpu"\]\.strategy\["target-value"\]\.target/);

    writeFileSync(flag, 'on');
    writeFileSync(join(dir, 'cpu.hcl'), cpuJob(flag));
    writeFileSync(join(dir, 'rps.hcl'), RPS_JOB);
    for (const f of ['cpu.hcl', 'rps.hcl']) {
      const r = agent.cli(['job', 'run', '-detach', join(dir, f)]);
      expect(r.code, r.stderr).toBe(0);
    }
    const list = agent.cli(['scaling', 'policy', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/ID\s+Enabled\s+Type\s+Target/);
    expect(list.stdout).toMatch(/true\s+horizontal\s+Namespace:default,Job:autoscale-cpu,Group:burn/);
    expect(list.stdout).toMatch(/Namespace:default,Job:autoscale-rps,Group:web/);
    const id = /^(\w{8})\s+true\s+horizontal\s+Namespace:default,Job:autoscale-cpu/m.exec(list.stdout)![1]!;
    const info = agent.cli(['scaling', 'policy', 'info', id]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/Min\s+= 2/);
    expect(info.stdout).toMatch(/Max\s+= 4/);
    expect(info.stdout).toContain('"evaluation_interval": "2s"');
  });

  it('holds CPU scaling during the deployment, scales to max under load, and back to min after it', async () => {
    // The first deployment lasts min_healthy_time; the load is on from the start, so the autoscaler wants more.
    const refused = await agent.waitFor(
      'a scaling event refused for the deployment',
      async () =>
        (await status('autoscale-cpu', 'burn')).Events?.find((e) => /deployment .* in progress/.test(e.Message)),
      60_000,
      500,
    );
    expect(refused).toMatchObject({ Count: null, Error: false });
    expect(refused.Message).toMatch(
      /^not scaled to 4: deployment \w+ is in progress; check "cpu": metric [\d.]+ is above target 50/,
    );

    const up = await agent.waitFor(
      'the CPU group scaled up',
      async () =>
        (await status('autoscale-cpu', 'burn')).Events?.find(
          (e) => e.Count !== null && e.Count > 2 && e.PreviousCount === 2,
        ),
      60_000,
      500,
    );
    expect(up.Error).toBe(false);
    expect(up.Message).toMatch(
      /^scaled from 2 to [34]( \(capped at max 4 \(wanted \d+\)\))?: check "cpu": metric [\d.]+ is above target 50/,
    );
    expect(up.Meta?.checks?.cpu?.metric).toBeGreaterThan(50);
    // Events are newest first: the refusal came before the first scale-up, so the deployment held it.
    const ordered = (await status('autoscale-cpu', 'burn')).Events ?? [];
    expect(ordered.findIndex((e) => e.Message === refused.Message)).toBeGreaterThan(
      ordered.findIndex((e) => e.Message === up.Message),
    );

    // Still loaded at max: one event says it stays there.
    await agent.waitFor(
      'the group at max with an event saying it is held there',
      async () => {
        const st = await status('autoscale-cpu', 'burn');
        return st.Desired === 4 && st.Events?.some((e) => /^not scaled: capped at max 4/.test(e.Message));
      },
      60_000,
      500,
    );

    unlinkSync(flag);
    const down = await agent.waitFor(
      'the CPU group scaled back down',
      async () => (await status('autoscale-cpu', 'burn')).Events?.find((e) => e.Count === 2 && e.PreviousCount > 2),
      90_000,
      500,
    );
    expect(down.Message).toMatch(
      /^scaled from [34] to 2( \(held at min 2 \(wanted [01]\)\))?: check "cpu": metric [\d.]+ is below target 50/,
    );
    const events = (await status('autoscale-cpu', 'burn')).Events ?? [];
    expect(events.every((e) => e.Count === null || (e.Count >= 2 && e.Count <= 4))).toBe(true);

    const cli = agent.cli(['job', 'scaling-events', 'autoscale-cpu']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/burn\s+2\s+[34]\s+false\s+.*scaled from [34] to 2/);
  });

  it('scales the gateway job on requests per second per instance and back after the load stops', async () => {
    await agent.waitFor(
      'the service through the gateway',
      async () => (await fetch(`${agent.gatewayAddress}/autoscale-rps`, { signal: AbortSignal.timeout(5000) })).ok,
      60_000,
    );
    // About 20 requests/s for at most 45 s, or until the group scales.
    const until = Date.now() + 45_000;
    let sent = 0;
    const loop = (async () => {
      while (!load.signal.aborted && Date.now() < until && sent < 900) {
        sent++;
        await fetch(`${agent.gatewayAddress}/autoscale-rps`, { signal: AbortSignal.timeout(5000) })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const up = await agent.waitFor(
      'the gateway group scaled up',
      async () => (await status('autoscale-rps', 'web')).Events?.find((e) => e.Count !== null && e.Count > 1),
      45_000,
      500,
    );
    load.abort();
    await loop;
    expect(up.PreviousCount).toBe(1);
    expect(up.Count).toBeGreaterThan(1);
    expect(up.Count).toBeLessThanOrEqual(3);
    expect(up.Message).toMatch(/check "rps": metric [\d.]+ is above target 4/);
    expect(up.Meta?.checks?.rps?.metric).toBeGreaterThan(4);

    const down = await agent.waitFor(
      'the gateway group scaled back to min',
      async () => (await status('autoscale-rps', 'web')).Events?.find((e) => e.Count === 1),
      60_000,
      500,
    );
    expect(down.Message).toMatch(/held at min 1|scaled from \d to 1/);
  });
});
