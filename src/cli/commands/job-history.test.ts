import { beforeEach, describe, expect, it } from 'vitest';
import { evaluation, job, jobStub } from '../testing/fixtures.js';
import { withFakeNomad } from '../testing/run-cli.js';

const nomad = withFakeNomad();
const cli = nomad.cli;

const EVAL = 'e1e1e1e1-0000-4000-8000-000000000001';

describe('drover job scale, revert and history', () => {
  beforeEach(() => {
    nomad.fake.on('GET', '/v1/jobs', { index: 5, body: [jobStub()] });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, {
      index: 12,
      body: evaluation({ Status: 'complete', TriggeredBy: 'job-scaling' }),
    });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, { index: 12, body: [] });
  });

  it("scales the job's only group when no group is named, then monitors", async () => {
    nomad.fake.on('GET', '/v1/job/web', { index: 5, body: job() });
    nomad.fake.on('POST', '/v1/job/web/scale', { body: { EvalID: EVAL, EvalCreateIndex: 12, JobModifyIndex: 12 } });
    const r = await cli(['job', 'scale', 'web', '3']);
    expect(r.code).toBe(0);
    expect(nomad.fake.requests.find((q) => q.path === '/v1/job/web/scale')!.body).toMatchObject({
      Count: 3,
      Target: { Job: 'web', Group: 'web' },
    });
    expect(r.stdout).toContain('==> Evaluation "e1e1e1e1" finished with status "complete"');
  });

  it('reverts to a version', async () => {
    nomad.fake.on('POST', '/v1/job/web/revert', { body: { EvalID: EVAL, EvalCreateIndex: 12, JobModifyIndex: 12 } });
    const r = await cli(['job', 'revert', '-detach', 'web', '0']);
    expect(r.stdout).toBe(`${EVAL}\n`);
    expect(nomad.fake.requests.find((q) => q.path === '/v1/job/web/revert')!.body).toEqual({
      JobID: 'web',
      JobVersion: 0,
    });
  });

  it('lists versions newest first, with the diff to the previous one under -p', async () => {
    nomad.fake.on('GET', '/v1/job/web/versions', {
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
