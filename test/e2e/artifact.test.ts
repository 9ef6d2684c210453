/**
 * The artifact block as Nomad users use it: a file server runs as a Drover job (raw_exec `busybox httpd` on
 * 127.0.0.1), and an exec job fetches a tar.gz from it, checks its sha256, unpacks it into local/ and runs the
 * script inside. The same job with a checksum that does not match fails its deployment with Nomad's "Failed
 * Artifact Download" event, after the restart policy's one retry, instead of hanging.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tgzOf } from '../../src/client/artifact/testing/archives.js';
import { TestAgent } from './harness/agent.js';
import { alloc, allocsOf, eventTypes, jobFile, runJob } from './fixtures/drivers-support.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const HELLO = tgzOf([
  { name: 'bin/', type: 'dir' },
  {
    name: 'bin/hello',
    body: '#!/bin/sh\necho "hello from the artifact $(cat /local/VERSION)"\nexec sleep 3600\n',
    mode: 0o755,
  },
  { name: 'VERSION', body: 'v1' },
]);
const SHA = createHash('sha256').update(HELLO).digest('hex');

function fileServerJob(port: number, root: string): string {
  return `job "artifact-files" {
  datacenters = ["dc1"]
  group "files" {
    network {
      port "http" {
        static = ${port}
      }
    }
    task "httpd" {
      driver = "raw_exec"
      config {
        command = "/usr/bin/busybox"
        args    = ["httpd", "-f", "-p", "127.0.0.1:\${NOMAD_PORT_http}", "-h", "${root}"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`;
}

function helloJob(name: string, port: number, checksum: string, attempts = 1): string {
  return `job "${name}" {
  datacenters = ["dc1"]
  update {
    min_healthy_time  = "1s"
    healthy_deadline  = "30s"
    progress_deadline = "40s"
  }
  group "g" {
    restart {
      attempts = ${attempts}
      interval = "10m"
      delay    = "1s"
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "hello" {
      driver = "exec"
      artifact {
        source = "http://127.0.0.1:${port}/hello.tar.gz"
        options {
          checksum = "sha256:${checksum}"
        }
      }
      config {
        command = "/local/bin/hello"
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;
}

describe('an exec job that ships its script as an artifact from a file server job', () => {
  const agent = new TestAgent();
  const root = mkdtempSync(join(tmpdir(), 'drover-artifact-e2e-'));
  let port = 0;

  beforeAll(async () => {
    writeFileSync(join(root, 'hello.tar.gz'), HELLO);
    port = await freePort();
    await agent.start();
    runJob(agent, jobFile('artifact-files', fileServerJob(port, root)), { monitor: true });
    await agent.waitFor('the file server to answer', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/hello.tar.gz`);
      return r.ok && Buffer.from(await r.arrayBuffer()).equals(HELLO);
    });
  });
  afterAll(async () => {
    await agent.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('downloads, checks and unpacks the tar.gz, then runs the script from it', async () => {
    const out = runJob(agent, jobFile('hello', helloJob('hello', port, SHA)), { monitor: true });
    expect(out).toMatch(/Deployment "[0-9a-f]{8}" successful/);
    expect(out).not.toContain('"artifact" block is parsed but not yet acted on');
    const [a] = await allocsOf(agent, 'hello');
    const full = await alloc(agent, a!.ID);
    expect(eventTypes(full.TaskStates?.hello)).toEqual(
      expect.arrayContaining(['Received', 'Task Setup', 'Downloading Artifacts', 'Started']),
    );
    await expect
      .poll(() => agent.cli(['alloc', 'logs', a!.ID, 'hello']).stdout, { timeout: 20_000 })
      .toContain('hello from the artifact v1');
    const status = agent.cli(['alloc', 'status', a!.ID]);
    expect(status.stdout).toContain('Client is downloading artifacts');
  });

  it('fails the task and its deployment with a clear event when the checksum does not match', async () => {
    const wrong = 'f'.repeat(64);
    const run = agent.cli(['job', 'run', jobFile('hello-bad', helloJob('hello-bad', port, wrong))]);
    expect(run.code, run.stdout + run.stderr).not.toBe(0);
    expect(run.stdout).toMatch(/Deployment "[0-9a-f]{8}" failed/);
    const [a] = await allocsOf(agent, 'hello-bad');
    const full = await alloc(agent, a!.ID);
    expect(full.ClientStatus).toBe('failed');
    const events = full.TaskStates?.hello?.Events ?? [];
    const failures = events.filter((e) => e.Type === 'Failed Artifact Download');
    // One failure per attempt: the first start and the restart policy's one retry.
    expect(failures).toHaveLength(2);
    expect(failures[0]!.DisplayMessage).toContain('checksums did not match');
    expect(failures[0]!.DisplayMessage).toContain(`expected sha256:${wrong}, got ${SHA}`);
    expect(eventTypes(full.TaskStates?.hello)).toContain('Not Restarting');
    expect(eventTypes(full.TaskStates?.hello)).not.toContain('Started');
    const status = agent.cli(['alloc', 'status', a!.ID]);
    expect(status.stdout).toContain('Failed Artifact Download');
    expect(status.stdout).toContain('checksums did not match');
  });

  it("applies the client's artifact { http_max_size } from the agent config file", async () => {
    const conf = join(root, 'small.hcl');
    writeFileSync(conf, 'client {\n  artifact {\n    http_max_size = "64B"\n  }\n}\n');
    const small = new TestAgent({ args: ['-config', conf] });
    try {
      await small.start();
      runJob(small, jobFile('hello-big', helloJob('hello-big', port, SHA, 0)));
      const ev = await small.waitFor('a Failed Artifact Download event', async () => {
        const [a] = await allocsOf(small, 'hello-big');
        const full = a ? await alloc(small, a.ID) : undefined;
        return full?.TaskStates?.hello?.Events?.find((e) => e.Type === 'Failed Artifact Download');
      });
      expect(ev.DisplayMessage).toContain(`${HELLO.length} bytes is more than the client's limit of 64 bytes`);
    } finally {
      await small.stop();
    }
  });
});
