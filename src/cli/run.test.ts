import { beforeEach, describe, expect, it } from 'vitest';
import { closedPort } from '../api/testing/index.js';
import { jobParseError } from '../errors/index.js';
import { newDesiredUpdates, type DesiredUpdates } from '../structs/index.js';
import type { AgentFlags } from './command.js';
import type { JobFileLoader, JobFileOptions } from './jobfile.js';
import { allocation, allocStub, evaluation, job, jobStub, metric, node, nodeStub } from './testing/fixtures.js';
import { withFakeNomad } from './testing/run-cli.js';

const nomad = withFakeNomad(() => ({ jobFiles: fakeLoader() }));
const cli = nomad.cli;

const EVAL = 'e1e1e1e1-0000-4000-8000-000000000001';
const ALLOC = 'a1a1a1a1-0000-4000-8000-000000000001';

/** A job-file loader that returns `job()` and records what it was asked. */
function fakeLoader(calls: { path: string; opts: JobFileOptions }[] = []): JobFileLoader {
  return {
    load: async (path, opts) => {
      calls.push({ path, opts });
      return { job: job(), warnings: [], submission: { Source: 'job "web" {}', Format: 'hcl2' } };
    },
  };
}

function serveCompletedEval() {
  nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, { index: 12, body: evaluation({ Status: 'complete' }) });
  nomad.fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, { index: 12, body: [allocStub()] });
}

describe('drover job run', () => {
  it('refuses a bad job file with every problem and sends nothing', async () => {
    const loader: JobFileLoader = {
      load: () =>
        Promise.reject(
          jobParseError([
            { message: 'unknown block "grup"', file: 'web.hcl', line: 3, column: 5 },
            {
              message: 'count must not be negative',
              file: 'web.hcl',
              line: 7,
              column: 13,
              block: 'job "web" > group "api"',
            },
          ]),
        ),
    };
    const r = await cli(['job', 'run', 'web.hcl'], { jobFiles: loader });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error parsing job file web.hcl:');
    expect(r.stderr).toContain('web.hcl:3:5: unknown block "grup"');
    expect(r.stderr).toContain('web.hcl:7:13: count must not be negative (in job "web" > group "api")');
    expect(nomad.fake.requests).toHaveLength(0);
  });

  it('registers with -check-index and -var, and -detach prints only the evaluation ID', async () => {
    nomad.fake.on('POST', '/v1/jobs', {
      body: { EvalID: EVAL, EvalCreateIndex: 11, JobModifyIndex: 11, Warnings: '', Index: 11 },
    });
    const calls: { path: string; opts: JobFileOptions }[] = [];
    const r = await cli(['job', 'run', '-check-index', '0', '-detach', '-var', 'image=v2', '-var=count=3', 'web.hcl'], {
      jobFiles: fakeLoader(calls),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${EVAL}\n`);
    expect(calls[0]?.opts.vars).toEqual({ image: 'v2', count: '3' });
    expect(nomad.fake.requests[0]?.body).toMatchObject({
      EnforceIndex: true,
      JobModifyIndex: 0,
      Job: { ID: 'web' },
      Submission: { Format: 'hcl2' },
    });
  });

  it('monitors the evaluation and prints the server warnings', async () => {
    nomad.fake.on('POST', '/v1/jobs', {
      body: {
        EvalID: EVAL,
        EvalCreateIndex: 11,
        JobModifyIndex: 11,
        Warnings: 'group "web": block "update" is parsed but ignored',
        Index: 11,
      },
    });
    serveCompletedEval();
    const r = await cli(['job', 'run', 'web.hcl']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Job Warnings:\n* group "web": block "update" is parsed but ignored\n');
    expect(r.stdout).toContain('==> Monitoring evaluation "e1e1e1e1"');
    expect(r.stdout).toContain('Allocation "a1a1a1a1" created: node "n1n1n1n1", group "web"');
    expect(r.stdout).toContain('==> Evaluation "e1e1e1e1" finished with status "complete"');
  });

  it('registers a periodic job without monitoring anything', async () => {
    // An eval ID that cannot be monitored: the command must not try.
    nomad.fake.on('POST', '/v1/jobs', {
      body: { EvalID: 'not-monitored', EvalCreateIndex: 11, JobModifyIndex: 11, Warnings: '', Index: 11 },
    });
    const periodic: JobFileLoader = {
      load: async () => ({
        job: job({ Type: 'batch', Periodic: { Spec: '*/5 * * * *' } as never }),
        warnings: [],
        submission: { Source: '', Format: 'hcl2' },
      }),
    };
    const r = await cli(['job', 'run', 'cron.hcl'], { jobFiles: periodic });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Job registration successful\n');
    expect(nomad.fake.requests.map((q) => q.path)).toEqual(['/v1/jobs']);
  });

  it('reports a check-index conflict as a submit error', async () => {
    nomad.fake.on('POST', '/v1/jobs', {
      status: 409,
      body: 'job modify index 3 does not match the current index 11',
      headers: { 'X-Drover-Error-Code': 'CheckIndexMismatch' },
    });
    const r = await cli(['job', 'run', '-check-index', '3', 'web.hcl']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error submitting job: job modify index 3 does not match the current index 11\n');
  });
});

describe('drover job plan', () => {
  const planBody = (updates: Partial<DesiredUpdates>) => ({
    Index: 12,
    JobModifyIndex: 11,
    Diff: {
      Type: 'None',
      ID: 'web',
      Fields: null,
      Objects: null,
      TaskGroups: [{ Type: 'None', Name: 'web', Fields: null, Objects: null, Tasks: null, Updates: { ignore: 1 } }],
    },
    Annotations: {
      DesiredTGUpdates: {
        web: newDesiredUpdates(updates),
      },
    },
    FailedTGAllocs: null,
    CreatedEvals: null,
    Warnings: '',
  });

  it('exits 0 when nothing changes', async () => {
    nomad.fake.on('POST', '/v1/job/web/plan', { body: planBody({ Ignore: 1 }) });
    const r = await cli(['job', 'plan', 'web.hcl']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Job: "web"\nTask Group: "web" (1 ignore)\n');
    expect(r.stdout).toContain('drover job run -check-index 11 web.hcl');
    expect(nomad.fake.requests[0]?.body).toMatchObject({ Diff: true, Job: { ID: 'web' } });
  });

  it('exits 1 when allocations would be created', async () => {
    nomad.fake.on('POST', '/v1/job/web/plan', { body: planBody({ Place: 2 }) });
    expect((await cli(['job', 'plan', 'web.hcl'])).code).toBe(1);
  });

  it('exits 255 when the agent answers an error', async () => {
    nomad.fake.on('POST', '/v1/job/web/plan', { status: 500, body: 'scheduler exploded' });
    const r = await cli(['job', 'plan', 'web.hcl']);
    expect(r.code).toBe(255);
    expect(r.stderr).toBe('Error during plan: scheduler exploded\n');
  });

  it('exits 255 for a bad job file, before asking the agent', async () => {
    const r = await cli(['job', 'plan', 'web.hcl'], {
      jobFiles: {
        load: () => Promise.reject(jobParseError([{ message: 'bad', file: 'web.hcl', line: 1, column: 1 }])),
      },
    });
    expect(r.code).toBe(255);
    expect(nomad.fake.requests).toHaveLength(0);
  });
});

describe('drover job status', () => {
  it('lists jobs, and drover status does the same', async () => {
    nomad.fake.on('GET', '/v1/jobs', {
      index: 5,
      body: [jobStub(), jobStub({ ID: 'batch-1', Type: 'batch', Status: 'dead' })],
    });
    for (const argv of [['job', 'status'], ['status']]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^ID\s+Type\s+Priority\s+Status\s+Submit Date$/);
      expect(lines[1]).toMatch(/^web\s+service\s+50\s+running\s+2026-11-21T/);
      expect(lines[2]).toMatch(/^batch-1\s+batch\s+50\s+dead\s+/);
    }
  });

  it('shows one job with its summary and allocations, resolving a prefix', async () => {
    nomad.fake.on('GET', '/v1/jobs', { index: 5, body: [jobStub()] });
    nomad.fake.on('GET', '/v1/job/web', { index: 5, body: job() });
    nomad.fake.on('GET', '/v1/job/web/summary', {
      index: 5,
      body: {
        JobID: 'web',
        Namespace: 'default',
        Summary: { web: { Queued: 0, Complete: 0, Failed: 0, Running: 1, Starting: 0, Lost: 0, Unknown: 0 } },
        Children: null,
        CreateIndex: 1,
        ModifyIndex: 5,
      },
    });
    nomad.fake.on('GET', '/v1/job/web/allocations', { index: 5, body: [allocStub()] });
    nomad.fake.on('GET', '/v1/job/web/deployment', { index: 5, body: null });
    const r = await cli(['job', 'status', 'we']);
    expect(r.code, r.stderr).toBe(0);
    expect(nomad.fake.requests[0]?.query.get('prefix')).toBe('we');
    expect(r.stdout).toMatch(/^ID\s+= web$/m);
    expect(r.stdout).toMatch(/^Status\s+= running$/m);
    expect(r.stdout).toContain(
      'Summary\nTask Group  Queued  Starting  Running  Failed  Complete  Lost\nweb         0       0         1        0       0         0\n',
    );
    expect(r.stdout).toContain(
      'Allocations\nID        Node ID   Task Group  Version  Desired  Status   Created  Modified\na1a1a1a1  n1n1n1n1  web         0        run      running  1m ago   30s ago\n',
    );
  });

  it('sends a region given before the command, as drover -region B job status does', async () => {
    nomad.fake.on('GET', '/v1/jobs', { index: 5, body: [jobStub()] });
    const r = await cli(['-region', 'europe', 'job', 'status', '-json']);
    expect(r.code, r.stderr).toBe(0);
    expect(nomad.fake.requests.map((q) => q.query.get('region'))).toEqual(['europe']);
  });

  it('prints the API JSON with -json', async () => {
    nomad.fake.on('GET', '/v1/jobs', { index: 5, body: [jobStub()] });
    const r = await cli(['job', 'status', '-json']);
    expect(JSON.parse(r.stdout)).toEqual([jobStub()]);
  });

  it('says so when no job matches', async () => {
    nomad.fake.on('GET', '/v1/jobs', { index: 5, body: [] });
    const r = await cli(['job', 'status', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('No job(s) with prefix or id "nope" found\n');
  });
});

describe('drover job stop', () => {
  it('deregisters with -purge and monitors the evaluation', async () => {
    nomad.fake.on('GET', '/v1/jobs', { index: 5, body: [jobStub()] });
    nomad.fake.on('DELETE', '/v1/job/web', {
      body: { EvalID: EVAL, EvalCreateIndex: 12, JobModifyIndex: 12, Index: 12 },
    });
    serveCompletedEval();
    const r = await cli(['job', 'stop', '-purge', 'web']);
    expect(r.code).toBe(0);
    expect(nomad.fake.requests.find((q) => q.method === 'DELETE')!.query.get('purge')).toBe('true');
    expect(r.stdout).toContain('==> Evaluation "e1e1e1e1" finished with status "complete"');
  });
});

describe('drover alloc status', () => {
  it('shows the allocation, its addresses, task resources with usage and recent events', async () => {
    nomad.fake.on('GET', '/v1/allocations', { index: 5, body: [allocStub()] });
    nomad.fake.on('GET', `/v1/allocation/${ALLOC}`, { index: 5, body: allocation() });
    nomad.fake.on('GET', `/v1/client/allocation/${ALLOC}/stats`, {
      body: {
        ResourceUsage: null,
        Timestamp: 0,
        Tasks: {
          srv: {
            Timestamp: 0,
            Pids: null,
            ResourceUsage: {
              MemoryStats: {
                RSS: 6.5 * 1024 * 1024,
                Cache: 0,
                Swap: 0,
                Usage: 7 * 1024 * 1024,
                MaxUsage: 8 * 1024 * 1024,
                KernelUsage: 0,
                KernelMaxUsage: 0,
                Measured: ['RSS'],
              },
              CpuStats: {
                SystemMode: 1,
                UserMode: 2.5,
                TotalTicks: 12.4,
                ThrottledPeriods: 0,
                ThrottledTime: 0,
                Percent: 3.5,
                Measured: ['Percent'],
              },
            },
          },
        },
      },
    });
    const r = await cli(['alloc', 'status', '-stats', 'a1a1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+= a1a1a1a1$/m);
    expect(r.stdout).toMatch(/^Client Status\s+= running$/m);
    expect(r.stdout).toContain('Allocation Addresses:\nLabel  Dynamic  Address\nhttp   yes      127.0.0.1:23456\n');
    expect(r.stdout).toContain(
      'Task "srv" is "running"\nTask Resources:\nCPU         Memory          Disk     Addresses\n12/100 MHz  6.5 MiB/64 MiB  300 MiB  http: 127.0.0.1:23456\n',
    );
    expect(r.stdout).toContain(
      'Memory Stats\nCache  Max Usage  RSS      Swap  Usage\n0 B    8 MiB      6.5 MiB  0 B   7 MiB',
    );
    expect(r.stdout).toMatch(/^Total Restarts = 1$/m);
    const events = r.stdout.slice(r.stdout.indexOf('Recent Events:')).split('\n');
    expect(events[1]).toMatch(/^Time\s+Type\s+Description$/);
    expect(events[2]).toMatch(/Terminated\s+Exit Code: 137, Signal: 9$/);
    expect(events[4]).toMatch(/Received\s+Task received by client$/);
  });

  it('lists the matches and fails when a prefix is ambiguous', async () => {
    nomad.fake.on('GET', '/v1/allocations', {
      index: 5,
      body: [allocStub(), allocStub({ ID: 'a1a1a1a1-9999-4000-8000-000000000002', Name: 'web.web[1]' })],
    });
    const r = await cli(['alloc', 'status', 'a1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Prefix matched multiple allocations');
    expect(r.stderr.match(/a1a1a1a1/g)).toHaveLength(2);
    expect(nomad.fake.requests.map((q) => q.path)).toEqual(['/v1/allocations']);
  });
});

describe('drover alloc logs', () => {
  beforeEach(() => {
    nomad.fake.on('GET', '/v1/allocations', { index: 5, body: [allocStub()] });
    nomad.fake.on('GET', `/v1/allocation/${ALLOC}`, { index: 5, body: allocation() });
    nomad.fake.on('GET', `/v1/client/fs/logs/${ALLOC}`, { body: 'one\ntwo\nthree\n' });
  });

  it("prints the only task's stdout when no task is named", async () => {
    const r = await cli(['alloc', 'logs', 'a1a1a1a1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('one\ntwo\nthree\n');
    const q = nomad.fake.requests.find((x) => x.path.startsWith('/v1/client/fs/logs'))!.query;
    expect(Object.fromEntries(q)).toMatchObject({
      task: 'srv',
      type: 'stdout',
      follow: 'false',
      origin: 'start',
      plain: 'true',
    });
  });

  it('reads stderr from the end with -stderr -tail -n', async () => {
    const r = await cli(['alloc', 'logs', '-stderr', '-tail', '-n', '2', 'a1a1a1a1', 'srv']);
    expect(r.stdout).toBe('two\nthree\n');
    const q = nomad.fake.requests.find((x) => x.path.startsWith('/v1/client/fs/logs'))!.query;
    expect(Object.fromEntries(q)).toMatchObject({ type: 'stderr', origin: 'end' });
  });

  it('refuses a task the allocation does not have', async () => {
    const r = await cli(['alloc', 'logs', 'a1a1a1a1', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Could not find task named: nope');
  });
});

describe('drover node status and eval status', () => {
  it('lists nodes as nomad does', async () => {
    nomad.fake.on('GET', '/v1/nodes', { index: 5, body: [nodeStub()] });
    const r = await cli(['node', 'status']);
    expect(r.stdout).toBe(
      'ID        Node Pool  DC   Name   Class   Drain  Eligibility  Status\nn1n1n1n1  default    dc1  node1  <none>  false  eligible     ready\n',
    );
  });

  it('shows a node with its allocated resources and allocations', async () => {
    nomad.fake.on('GET', '/v1/nodes', { index: 5, body: [nodeStub()] });
    nomad.fake.on('GET', '/v1/node/n1n1n1n1-0000-4000-8000-000000000001', { index: 5, body: node() });
    nomad.fake.on('GET', '/v1/node/n1n1n1n1-0000-4000-8000-000000000001/allocations', {
      index: 5,
      body: [allocation()],
    });
    const r = await cli(['node', 'status', 'n1n1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Drivers\s+= raw_exec$/m);
    expect(r.stdout).toContain(
      'Allocated Resources\nCPU           Memory        Disk\n100/4000 MHz  64 MiB/8 GiB  300 MiB/10 GiB\n',
    );
    expect(r.stdout).toMatch(/^a1a1a1a1\s+web\s+web\s+0\s+run\s+running\s+1m ago\s+30s ago$/m);
  });

  it('explains the placement failures of an evaluation', async () => {
    nomad.fake.on('GET', '/v1/evaluations', { index: 5, body: [evaluation({ Status: 'complete' })] });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, {
      index: 5,
      body: evaluation({
        Status: 'complete',
        FailedTGAllocs: {
          web: metric({ ConstraintFiltered: { '${attr.kernel.name} = windows': 1 }, NodesFiltered: 1 }),
        },
      }),
    });
    const r = await cli(['eval', 'status', 'e1e1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Placement Failures = true$/m);
    expect(r.stdout).toContain(
      'Failed Placements\nTask Group "web" (failed to place 1 allocation):\n  * Constraint "${attr.kernel.name} = windows": 1 nodes excluded by filter\n',
    );
  });
});

describe('global behaviour', () => {
  it('takes -address over DROVER_ADDR', async () => {
    const port = await closedPort();
    nomad.fake.on('GET', '/v1/nodes', { index: 5, body: [] });
    const ok = await cli(
      ['node', 'status', '-address', nomad.fake.address],
      {},
      { DROVER_ADDR: `http://127.0.0.1:${port}` },
    );
    expect(ok.stdout).toBe('No nodes registered\n');
  });

  it('names the address when the agent is not running', async () => {
    const port = await closedPort();
    const r = await cli(['job', 'status'], {}, { DROVER_ADDR: `127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `Error querying http://127.0.0.1:${port}/v1/jobs: connect ECONNREFUSED 127.0.0.1:${port}; is the agent running`,
    );
  });

  it('prints the version for drover version and drover -v', async () => {
    expect((await cli(['version'])).stdout).toMatch(/^Drover v\d+\.\d+\.\d+\n$/);
    expect((await cli(['-v'])).stdout).toMatch(/^Drover v/);
  });

  it('exits 1 on an unknown command or flag', async () => {
    expect((await cli(['jbo', 'status'])).code).toBe(1);
    const r = await cli(['job', 'status', '-bogus']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown option');
  });
});

describe('drover agent', () => {
  it('passes its flags to the agent and stops it gracefully on the signal', async () => {
    const ac = new AbortController();
    const got: AgentFlags[] = [];
    let stopped = false;
    const running = cli(
      [
        'agent',
        '-dev',
        '-data-dir',
        '/tmp/d',
        '-bind',
        '127.0.0.1',
        '-http-port',
        '4747',
        '-config',
        'a.json',
        '-config',
        'b.json',
      ],
      {
        signal: ac.signal,
        startAgent: async (flags) => {
          got.push(flags);
          // The signal arrives once the agent is up (the command checks for one that came before it waits).
          queueMicrotask(() => ac.abort());
          return { stop: async () => void (stopped = true) };
        },
      },
    );
    const r = await running;
    expect(r.code).toBe(0);
    expect(stopped).toBe(true);
    expect(got[0]).toMatchObject({
      dev: true,
      dataDir: '/tmp/d',
      bindAddr: '127.0.0.1',
      httpPort: 4747,
      configFiles: ['a.json', 'b.json'],
    });
    expect(r.stdout).toContain('gracefully shutting down');
  });

  it('refuses to start without -dev, -server, -client or a config file', async () => {
    const r = await cli(['agent'], { startAgent: () => Promise.reject(new Error('must not start')) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Must specify either server, client or dev mode');
  });
});
