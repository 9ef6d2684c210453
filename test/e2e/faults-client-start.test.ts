/**
 * Fault test of issue #13: a client agent SIGKILLed while it starts an allocation, then started again on the
 * same data dir. One server agent and one client agent (separate processes, so the server lives through it;
 * heartbeats long enough that the node is not marked down meanwhile, so the allocation is not replaced);
 * the allocation has a docker task, an exec (runc) task and a raw_exec task. Each round kills the client at
 * another moment:
 *
 *   received ─► the client has made the allocation's directory (its tasks are not started yet)
 *   docker   ─► the docker task's container exists (created or starting; the others may be starting too)
 *   exec     ─► the exec task's runc container exists (its handle may not be persisted yet)
 *   raw_exec ─► the raw_exec task's process exists
 *
 * After the restart the allocation must end running, adopted: exactly one container, one runc task and one
 * raw_exec process group for it, one allocation for the job, and no second one appearing while it settles.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestImages, TEST_IMAGES } from '../images/index.js';
import { TestCluster, type AllocStub } from './harness/cluster.js';
import { containersOf, docker, removeLeftovers, runcContainers } from './fixtures/drivers-support.js';

const TICKER = 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.3; done';

const jobHCL = (id: string) => `job "${id}" {
  datacenters = ["dc1"]
  group "g" {
    task "d" {
      driver = "docker"
      config {
        image   = "${TEST_IMAGES.busybox}"
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(TICKER)}]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
    task "e" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(TICKER)}]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
    task "r" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(TICKER)}, "raw-\${NOMAD_ALLOC_ID}"]
      }
    }
  }
}
`;

interface AllocFull extends AllocStub {
  TaskStates?: Record<string, { State: string; Restarts: number }>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a client agent SIGKILLed while it starts an allocation', () => {
  const cluster = new TestCluster({
    clients: [{ name: 'harden2-start', dc: 'dc1' }],
    heartbeat: { minTTL: '60s', grace: '60s' },
  });
  const seen = new Set<string>();

  beforeAll(async () => {
    await ensureTestImages();
    await cluster.start();
  }, 180_000);
  afterAll(async () => {
    await cluster.stop();
    removeLeftovers(seen);
  }, 120_000);

  const client = () => cluster.client('harden2-start');
  const execTasksOf = (allocID: string) => runcContainers(client().dataDir).filter((r) => r.id.includes(allocID));
  /** The job's one allocation ID once the server has placed it. */
  const placed = async (job: string) => (await cluster.allocs(job))[0]?.ID;

  /** Process groups of the raw_exec task (its shell carries `raw-<alloc ID>` as $0, its children inherit the group). */
  const rawGroupsOf = (allocID: string) => {
    const groups = new Set<string>();
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`raw-${allocID}`)) continue;
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (fields[0] !== 'Z') groups.add(fields[2]!); // state, ppid, pgrp
      } catch {
        /* gone */
      }
    }
    return [...groups];
  };

  const triggers: Record<string, (allocID: string) => boolean> = {
    received: (id) => existsSync(join(client().dataDir, 'client', 'alloc', id)),
    docker: (id) => containersOf(id).length > 0,
    exec: (id) => execTasksOf(id).length > 0,
    raw_exec: (id) => rawGroupsOf(id).length > 0,
  };

  for (const [moment, fired] of Object.entries(triggers)) {
    it(`adopts the allocation with no duplicate task when killed at "${moment}"`, async () => {
      const job = `harden2-start-${moment}`;
      cluster.runJob(jobHCL(job), job);
      // Poll tightly for the moment, then SIGKILL the client at once.
      const allocID = await cluster.server.waitFor(`the allocation of ${job}`, () => placed(job), 30_000, 10);
      seen.add(allocID);
      await cluster.server.waitFor(`the "${moment}" moment`, async () => fired(allocID), 60_000, 10);
      await client().kill();
      const atKill = {
        containers: containersOf(allocID).length,
        exec: execTasksOf(allocID).length,
        raw: rawGroupsOf(allocID).length,
      };

      await client().start();
      const [running] = await cluster.waitForRunning(job, 1, 120_000);
      expect(running!.ID, `the same allocation runs (killed with ${JSON.stringify(atKill)})`).toBe(allocID);
      const settled = async () => {
        const a = (await cluster.server.api<AllocFull>(`/v1/allocation/${allocID}`)).body;
        return ['d', 'e', 'r'].every((t) => a.TaskStates?.[t]?.State === 'running') ? a : undefined;
      };
      await cluster.server.waitFor('all three tasks running', settled, 60_000);

      // Counted twice, the second time after the client had a few heartbeats to start anything again.
      for (const pass of [1, 2]) {
        const cs = containersOf(allocID);
        expect(cs, `pass ${pass}: containers of ${allocID}`).toHaveLength(1);
        expect(docker(['inspect', '--format', '{{.State.Running}}', cs[0]!])).toBe('true');
        const ex = execTasksOf(allocID);
        expect(
          ex.map((r) => r.status),
          `pass ${pass}: runc tasks of ${allocID}`,
        ).toEqual(['running']);
        expect(alive(ex[0]!.pid)).toBe(true);
        expect(rawGroupsOf(allocID), `pass ${pass}: raw_exec process groups of ${allocID}`).toHaveLength(1);
        expect((await cluster.allocs(job)).map((a) => a.ID)).toEqual([allocID]);
        if (pass === 1) await new Promise((r) => setTimeout(r, 3000));
      }
      const a = (await cluster.server.api<AllocFull>(`/v1/allocation/${allocID}`)).body;
      expect(a.ClientStatus).toBe('running');
    }, 240_000);
  }
});
