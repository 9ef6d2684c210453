import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeNomad } from '../../api/testing/index.js';
import { runCli } from '../run.js';
import { evaluation, job, jobStub, nodeStub, NOW_MS } from '../testing/fixtures.js';
import { drainSpec } from './node-drain.js';

let fake: FakeNomad;
beforeEach(async () => {
  fake = await new FakeNomad().start();
});
afterEach(async () => {
  await fake.stop();
});

const EVAL = 'e1e1e1e1-0000-4000-8000-000000000001';
const NODE = 'n1n1n1n1-0000-4000-8000-000000000001';

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    argv,
    {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { DROVER_ADDR: fake.address },
    },
    { now: () => NOW_MS },
  );
  return { code, stdout, stderr };
}

describe('drover node drain and eligibility', () => {
  beforeEach(() => {
    fake.on('GET', '/v1/nodes', { index: 5, body: [nodeStub()] });
  });

  it('starts a drain with the deadline in nanoseconds and system jobs left alone', async () => {
    fake.on('POST', `/v1/node/${NODE}/drain`, { body: { EvalIDs: [], EvalCreateIndex: 6, NodeModifyIndex: 6 } });
    const r = await cli(['node', 'drain', '-enable', '-deadline', '30m', '-ignore-system', '-yes', '-detach', 'n1n1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Node "${NODE}" drain strategy set\n`);
    expect(fake.requests[1]?.body).toEqual({
      NodeID: NODE,
      DrainSpec: { Deadline: 1800e9, IgnoreSystemJobs: true },
      MarkEligible: false,
      Meta: null,
    });
  });

  it('follows the drain to its end without -detach, printing the drain events', async () => {
    fake.on('POST', `/v1/node/${NODE}/drain`, { body: { EvalIDs: [], EvalCreateIndex: 6, NodeModifyIndex: 6 } });
    const events = [
      {
        Message: 'Node drain complete',
        Subsystem: 'Drain',
        Details: null,
        Timestamp: '2026-01-01T00:00:00.000Z',
        CreateIndex: 9,
      },
    ];
    fake.on('GET', `/v1/node/${NODE}`, { index: 9, body: { ID: NODE, DrainStrategy: null, Events: events } });
    const r = await cli(['node', 'drain', '-enable', 'n1n1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2026-01-01T00:00:00.000Z: Node drain complete');
    expect(r.stdout).toContain(`Drain complete for node ${NODE}`);
  });

  it('ends a drain and makes the node eligible again', async () => {
    fake.on('POST', `/v1/node/${NODE}/drain`, { body: { EvalIDs: [], EvalCreateIndex: 6, NodeModifyIndex: 6 } });
    await cli(['node', 'drain', '-disable', 'n1n1']);
    expect(fake.requests[1]?.body).toMatchObject({ DrainSpec: null, MarkEligible: true });
  });

  it('needs exactly one of -enable and -disable', async () => {
    const r = await cli(['node', 'eligibility', 'n1n1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exactly one of -enable or -disable');
  });

  it('sets eligibility', async () => {
    fake.on('POST', `/v1/node/${NODE}/eligibility`, {
      body: { EvalIDs: null, EvalCreateIndex: 0, NodeModifyIndex: 7 },
    });
    const r = await cli(['node', 'eligibility', '-disable', 'n1n1']);
    expect(r.stdout).toBe(`Node "${NODE}" scheduling eligibility set: ineligible for scheduling\n`);
    expect(fake.requests[1]?.body).toEqual({ NodeID: NODE, Eligibility: 'ineligible' });
  });

  it('turns -force and -no-deadline into nomad deadlines', () => {
    expect(drainSpec({ force: true }).Deadline).toBe(-1);
    expect(drainSpec({ deadline: false }).Deadline).toBe(0);
    expect(drainSpec({}).Deadline).toBe(3600e9);
    expect(() => drainSpec({ deadline: 'soon' })).toThrow('invalid -deadline "soon"');
  });
});

describe('drover job scale, revert and history', () => {
  beforeEach(() => {
    fake.on('GET', '/v1/jobs', { index: 5, body: [jobStub()] });
    fake.on('GET', `/v1/evaluation/${EVAL}`, {
      index: 12,
      body: evaluation({ Status: 'complete', TriggeredBy: 'job-scaling' }),
    });
    fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, { index: 12, body: [] });
  });

  it("scales the job's only group when no group is named, then monitors", async () => {
    fake.on('GET', '/v1/job/web', { index: 5, body: job() });
    fake.on('POST', '/v1/job/web/scale', { body: { EvalID: EVAL, EvalCreateIndex: 12, JobModifyIndex: 12 } });
    const r = await cli(['job', 'scale', 'web', '3']);
    expect(r.code).toBe(0);
    expect(fake.requests.find((q) => q.path === '/v1/job/web/scale')!.body).toMatchObject({
      Count: 3,
      Target: { Job: 'web', Group: 'web' },
    });
    expect(r.stdout).toContain('==> Evaluation "e1e1e1e1" finished with status "complete"');
  });

  it('reverts to a version', async () => {
    fake.on('POST', '/v1/job/web/revert', { body: { EvalID: EVAL, EvalCreateIndex: 12, JobModifyIndex: 12 } });
    const r = await cli(['job', 'revert', '-detach', 'web', '0']);
    expect(r.stdout).toBe(`${EVAL}\n`);
    expect(fake.requests.find((q) => q.path === '/v1/job/web/revert')!.body).toEqual({ JobID: 'web', JobVersion: 0 });
  });

  it('lists versions newest first, with the diff to the previous one under -p', async () => {
    fake.on('GET', '/v1/job/web/versions', {
      index: 5,
      body: {
        Versions: [job({ Version: 1, Stable: true }), job({ Version: 0 })],
        Diffs: [
          {
            Type: 'Edited',
            ID: 'web',
            Fields: null,
            Objects: null,
            TaskGroups: [
              {
                Type: 'Edited',
                Name: 'web',
                Fields: [{ Type: 'Edited', Name: 'Count', Old: '1', New: '3', Annotations: null }],
                Objects: null,
                Tasks: null,
                Updates: null,
              },
            ],
          },
        ],
      },
    });
    const r = await cli(['job', 'history', '-p', 'web']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Version {5}= 1\nStable {6}= true\nSubmit Date = .+\nDiff {8}=\n\+\/- Job: "web"\n\+\/- Task Group: "web"\n {2}\+\/- Count: "1" => "3"\n\nVersion {5}= 0\n/,
    );
  });
});
