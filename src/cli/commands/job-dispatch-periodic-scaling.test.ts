import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobStub, NOW_MS } from '../testing/fixtures.js';
import { parseMetaFlags } from './job-dispatch.js';
import { withFakeNomad } from '../testing/run-cli.js';

const nomad = withFakeNomad();
const cli = nomad.cli;
let dir: string;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'drover-cli-jt-'));
  nomad.fake.on('GET', '/v1/jobs', { index: 5, body: [jobStub({ ID: 'resize' })] });
});
afterEach(async () => {
  rmSync(dir, { recursive: true, force: true });
});

const EVAL = 'e1e1e1e1-0000-4000-8000-000000000001';

describe('drover job dispatch', () => {
  it('sends the input file as base64 with the -meta flags and prints the dispatched job', async () => {
    const input = join(dir, 'in.bin');
    writeFileSync(input, Buffer.from([1, 2, 3]));
    nomad.fake.on('POST', '/v1/job/resize/dispatch', {
      body: { DispatchedJobID: 'resize/dispatch-1-abcdef01', EvalID: EVAL, EvalCreateIndex: 9, JobCreateIndex: 9 },
    });
    const r = await cli(['job', 'dispatch', '-detach', '-meta', 'image=a.png', '-meta', 'q=x=y', 'resize', input]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Dispatched Job ID = resize/dispatch-1-abcdef01\nEvaluation ID     = e1e1e1e1\n');
    const body = nomad.fake.requests.find((q) => q.path === '/v1/job/resize/dispatch')!.body as Record<string, unknown>;
    expect(body).toMatchObject({
      Payload: Buffer.from([1, 2, 3]).toString('base64'),
      Meta: { image: 'a.png', q: 'x=y' },
    });
  });

  it('refuses a -meta flag without =', () => {
    expect(() => parseMetaFlags(['novalue'])).toThrow('expected key=value');
  });
});

describe('drover job periodic force and scaling-events', () => {
  it('forces a launch and prints the eval ID with -detach', async () => {
    nomad.fake.on('POST', '/v1/job/resize/periodic/force', { body: { EvalID: EVAL, EvalCreateIndex: 9 } });
    const r = await cli(['job', 'periodic', 'force', '-detach', 'resize']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${EVAL}\n`);
  });

  it('lists scaling events per group, newest first', async () => {
    const ev = (count: number | null, prev: number, msg: string) => ({
      Time: NOW_MS * 1e6,
      Count: count,
      PreviousCount: prev,
      Message: msg,
      Error: count == null,
      Meta: null,
      EvalID: count == null ? null : EVAL,
      CreateIndex: 1,
    });
    nomad.fake.on('GET', '/v1/job/resize/scale', {
      index: 9,
      body: {
        JobID: 'resize',
        Namespace: 'default',
        JobCreateIndex: 1,
        JobModifyIndex: 9,
        JobStopped: false,
        TaskGroups: {
          g: {
            Desired: 3,
            Placed: 3,
            Running: 3,
            Healthy: 0,
            Unhealthy: 0,
            Events: [ev(3, 1, 'up'), ev(null, 1, 'oops')],
          },
        },
      },
    });
    const r = await cli(['job', 'scaling-events', 'resize']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Task Group\s+Count\s+PrevCount\s+Error\s+Date\s+Eval ID\s+Message$/);
    expect(lines[1]).toMatch(/^g\s+3\s+1\s+false\s+\S+\s+e1e1e1e1\s+up$/);
    expect(lines[2]).toMatch(/^g\s+<none>\s+1\s+true\s+\S+\s+<none>\s+oops$/);
  });
});
