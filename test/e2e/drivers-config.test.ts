/**
 * The client's agent config file (Nomad's names) through a real agent: raw_exec disabled filters the node for
 * raw_exec jobs (and `job run` says why), docker refuses privileged containers unless the plugin allows them,
 * host volumes are mounted into tasks that claim them, and the port range, class, meta and reservations reach
 * the node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTestImages, TEST_IMAGES } from '../images/index.js';
import { TestAgent } from './harness/agent.js';
import {
  alloc,
  containersOf,
  docker,
  jobFile,
  runJob,
  singleTaskJob,
  stopAndClean,
  waitRunning,
} from './fixtures/drivers-support.js';

const work = mkdtempSync(join(tmpdir(), 'drover-drivers-config-'));
const volumeDir = join(work, 'shared-volume');

function configFile(name: string, hcl: string): string {
  const p = join(work, `${name}.hcl`);
  writeFileSync(p, hcl);
  return p;
}

const CLIENT_CONFIG = `client {
  node_class       = "drivers-e2e"
  min_dynamic_port = 23100
  max_dynamic_port = 23110
  meta {
    rack = "r9"
  }
  reserved {
    cpu            = 100
    memory         = 128
    reserved_ports = "23100-23104"
  }
  host_volume "shared" {
    path      = "${volumeDir}"
    read_only = true
  }
}

plugin "raw_exec" {
  config {
    enabled = false
  }
}
`;

const PRIVILEGED = (job: string) =>
  singleTaskJob({
    job,
    driver: 'docker',
    config: `        image      = "${TEST_IMAGES.busybox}"\n        command    = "/bin/sleep"\n        args       = ["3600"]\n        privileged = true`,
  });

interface NodeStub {
  ID: string;
  NodeClass: string;
  Meta: Record<string, string>;
  Drivers: Record<string, { Detected: boolean; Healthy: boolean }>;
  NodeResources: { MinDynamicPort: number; MaxDynamicPort: number };
  ReservedResources: {
    Cpu: { CpuShares: number };
    Memory: { MemoryMB: number };
    Networks: { ReservedHostPorts: string };
  };
  HostVolumes: Record<string, { Path: string; ReadOnly: boolean }>;
}

describe('a client configured by an agent config file', () => {
  const agent = new TestAgent({ args: ['-config', configFile('client', CLIENT_CONFIG)] });
  const seen = new Set<string>();

  beforeAll(async () => {
    mkdirSync(volumeDir, { recursive: true });
    writeFileSync(join(volumeDir, 'greeting.txt'), 'hello from the host volume\n');
    await ensureTestImages();
    await agent.start();
  });
  afterAll(async () => {
    await stopAndClean(agent, seen);
  });

  it('registers the node with the configured class, meta, port range, reservations and host volumes', async () => {
    const node = await agent.waitFor('the node', async () => {
      const [n] = (await agent.api<Array<{ ID: string }>>('/v1/nodes')).body;
      return n ? (await agent.api<NodeStub>(`/v1/node/${n.ID}`)).body : null;
    });
    expect(node.NodeClass).toBe('drivers-e2e');
    expect(node.Meta['rack']).toBe('r9');
    expect(node.NodeResources).toMatchObject({ MinDynamicPort: 23100, MaxDynamicPort: 23110 });
    expect(node.ReservedResources.Cpu.CpuShares).toBe(100);
    expect(node.ReservedResources.Memory.MemoryMB).toBe(128);
    expect(node.ReservedResources.Networks.ReservedHostPorts).toBe('23100-23104');
    expect(node.HostVolumes['shared']).toMatchObject({ Path: volumeDir, ReadOnly: true });
    expect(node.Drivers['raw_exec']?.Detected).toBe(false);
    expect(node.Drivers['docker']?.Healthy).toBe(true);
  });

  it('fails placement of a raw_exec job, and job run says the node was filtered for its driver', async () => {
    const file = jobFile(
      'raw',
      singleTaskJob({
        job: 'raw',
        driver: 'raw_exec',
        config: '        command = "/bin/sleep"\n        args    = ["60"]',
      }),
    );
    const r = agent.cli(['job', 'run', file]);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/Task Group "g" \(failed to place 1 allocation\)/);
    expect(out).toMatch(/Constraint "missing drivers": 1 nodes excluded by filter/);
    expect((await agent.api<unknown[]>('/v1/job/raw/allocations')).body).toEqual([]);
    expect(agent.cli(['job', 'stop', '-purge', 'raw']).code).toBe(0);
  });

  it('refuses a privileged docker task when the plugin does not allow it', async () => {
    runJob(agent, jobFile('priv', PRIVILEGED('priv')));
    const t = await agent.waitFor('the task to fail', async () => {
      const [a] = (await agent.api<Array<{ ID: string }>>('/v1/job/priv/allocations')).body;
      if (!a) return null;
      seen.add(a.ID);
      const s = (await alloc(agent, a.ID)).TaskStates?.['t'];
      return s?.State === 'dead' ? { id: a.ID, s } : null;
    });
    expect(t.s.Failed).toBe(true);
    const failure = t.s.Events.find((e) => e.Type === 'Driver Failure');
    expect(failure?.DisplayMessage).toMatch(
      /privileged containers are not allowed on this client \(plugin option allow_privileged\)/,
    );
    expect(containersOf(t.id)).toEqual([]);
    expect(agent.cli(['job', 'stop', '-purge', 'priv']).code).toBe(0);
  });

  it('mounts a configured host volume into a docker task that claims it, read-only, with a port from the range', async () => {
    const job = `job "vol" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "http" {}
    }
    volume "data" {
      type      = "host"
      source    = "shared"
      read_only = true
    }
    task "t" {
      driver = "docker"
      volume_mount {
        volume      = "data"
        destination = "/data"
        read_only   = true
      }
      config {
        image   = "${TEST_IMAGES.busybox}"
        command = "/bin/sh"
        args    = ["-c", "cat /data/greeting.txt; touch /data/written 2>&1 || echo read-only; echo port=$NOMAD_PORT_http; exec sleep 3600"]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
`;
    runJob(agent, jobFile('vol', job));
    const [a] = await waitRunning(agent, 'vol');
    seen.add(a!.ID);
    const out = await agent.waitFor('the task output', async () => {
      const o = agent.cli(['alloc', 'logs', a!.ID, 't']).stdout;
      return o.includes('port=') ? o : null;
    });
    expect(out).toContain('hello from the host volume');
    expect(out).toContain('read-only');
    const port = Number(/port=(\d+)/.exec(out)![1]);
    // Inside the configured range, and not one of the reserved ports.
    expect(port).toBeGreaterThanOrEqual(23105);
    expect(port).toBeLessThanOrEqual(23110);
    const [id] = containersOf(a!.ID);
    expect(docker(['inspect', '--format', '{{json .HostConfig.Binds}}', id!])).toContain(`${volumeDir}:/data:ro`);
    expect(agent.cli(['job', 'stop', '-purge', 'vol']).code).toBe(0);
  });

  it('fails placement of a group that claims a host volume this client does not have', async () => {
    const job = `job "novol" {
  datacenters = ["dc1"]
  group "g" {
    volume "data" {
      type   = "host"
      source = "not-configured"
    }
    task "t" {
      driver = "docker"
      config {
        image = "${TEST_IMAGES.busybox}"
      }
    }
  }
}
`;
    const r = agent.cli(['job', 'run', jobFile('novol', job)]);
    expect(r.stdout + r.stderr).toMatch(/Constraint "missing compatible host volumes": 1 nodes excluded by filter/);
    expect(agent.cli(['job', 'stop', '-purge', 'novol']).code).toBe(0);
  });

  it('refuses docker volumes with host paths outside the allocation dir unless the plugin enables them', async () => {
    runJob(
      agent,
      jobFile(
        'hostpath',
        singleTaskJob({
          job: 'hostpath',
          driver: 'docker',
          config: `        image   = "${TEST_IMAGES.busybox}"\n        volumes = ["/etc:/hostetc:ro"]`,
        }),
      ),
    );
    const t = await agent.waitFor('the task to fail', async () => {
      const [a] = (await agent.api<Array<{ ID: string }>>('/v1/job/hostpath/allocations')).body;
      if (!a) return null;
      seen.add(a.ID);
      const s = (await alloc(agent, a.ID)).TaskStates?.['t'];
      return s?.State === 'dead' ? s : null;
    });
    expect(t.Failed).toBe(true);
    expect(t.Events.find((e) => e.Type === 'Driver Failure')?.DisplayMessage).toMatch(
      /absolute host paths are not allowed on this client \(plugin option volumes.enabled\)/,
    );
    expect(agent.cli(['job', 'stop', '-purge', 'hostpath']).code).toBe(0);
  });
});

describe('a client whose docker plugin allows privileged containers', () => {
  const agent = new TestAgent({
    args: ['-config', configFile('privileged', 'plugin "docker" {\n  config {\n    allow_privileged = true\n  }\n}\n')],
  });
  const seen = new Set<string>();

  beforeAll(async () => {
    await ensureTestImages();
    await agent.start();
  });
  afterAll(async () => {
    await stopAndClean(agent, seen);
    rmSync(work, { recursive: true, force: true });
  });

  /**
   * Some hosts (this sandbox among them) cannot run privileged containers at all: dockerd itself fails to apply
   * the full capability set. There the proof is that the client let the task through to docker, which failed it,
   * instead of refusing it as the unconfigured client does.
   */
  const hostRunsPrivileged =
    spawnSync('docker', ['run', '--rm', '--privileged', TEST_IMAGES.busybox, 'true'], { timeout: 60_000 }).status === 0;

  it('passes a privileged task to docker, which runs it in a privileged container where the host allows it', async () => {
    runJob(agent, jobFile('priv2', PRIVILEGED('priv2')));
    const [a] = (await agent.api<Array<{ ID: string }>>('/v1/job/priv2/allocations')).body;
    seen.add(a!.ID);
    if (hostRunsPrivileged) {
      await waitRunning(agent, 'priv2');
      const [id] = containersOf(a!.ID);
      expect(docker(['inspect', '--format', '{{.HostConfig.Privileged}}', id!])).toBe('true');
    } else {
      const failure = await agent.waitFor('docker to fail the privileged container', async () => {
        const s = (await alloc(agent, a!.ID)).TaskStates?.['t'];
        return s?.Events.find((e) => e.Type === 'Driver Failure');
      });
      expect(failure.DisplayMessage).not.toMatch(/not allowed on this client/);
      expect(failure.DisplayMessage).toMatch(/failed to start container for task t: docker .*start: 500/);
    }
    expect(agent.cli(['job', 'stop', '-purge', 'priv2']).code).toBe(0);
  });
});
