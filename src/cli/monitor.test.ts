import { describe, expect, it } from 'vitest';
import { DroverClient } from '../api/index.js';
import { BlockingValue } from '../api/testing/index.js';
import { monitorEval } from './monitor.js';
import { memoryOutput } from './output.js';
import { allocStub, evaluation, metric } from './testing/fixtures.js';
import { withFakeNomad } from './testing/run-cli.js';

const nomad = withFakeNomad();

const EVAL = 'e1e1e1e1-0000-4000-8000-000000000001';

describe('monitorEval', () => {
  it('follows a pending evaluation with blocking queries until it completes and prints the placements', async () => {
    const ev = new BlockingValue(evaluation({ Status: 'pending' }), 10);
    const allocs = new BlockingValue([] as ReturnType<typeof allocStub>[], 10);
    // The scheduler finishes only once the monitor is blocked waiting on the evaluation.
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, (req) => {
      if (req.query.get('index')) {
        setTimeout(() => {
          allocs.set([allocStub({ CreateIndex: 12 })], 12);
          ev.set(evaluation({ Status: 'complete', ModifyIndex: 12 }), 12);
        }, 50);
      }
      return ev.answer(req);
    });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, (req) => allocs.answer(req));
    const out = memoryOutput();
    const code = await monitorEval(new DroverClient({ address: nomad.fake.address }), out, EVAL, { waitMs: 5_000 });
    expect(code).toBe(0);
    expect(out.stdout()).toBe(
      [
        '==> Monitoring evaluation "e1e1e1e1"',
        '    Evaluation triggered by job "web"',
        '    Allocation "a1a1a1a1" created: node "n1n1n1n1", group "web"',
        '    Evaluation status changed: "pending" -> "complete"',
        '==> Evaluation "e1e1e1e1" finished with status "complete"',
        '',
      ].join('\n'),
    );
    // The second read of the evaluation was a blocking query on the index of the first answer.
    const evalReads = nomad.fake.requests.filter((r) => r.path === `/v1/evaluation/${EVAL}`);
    expect(evalReads).toHaveLength(2);
    expect(evalReads[1]?.query.get('index')).toBe('10');
    expect(evalReads[1]?.query.get('wait')).toBe('5000ms');
  });

  it('explains failed placements and the blocked evaluation, and exits 2', async () => {
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, {
      index: 12,
      body: evaluation({
        Status: 'complete',
        BlockedEval: 'b10cb10c-0000-4000-8000-000000000001',
        FailedTGAllocs: {
          web: metric({
            NodesEvaluated: 3,
            NodesExhausted: 3,
            DimensionExhausted: { memory: 3 },
            CoalescedFailures: 2,
          }),
        },
      }),
    });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, { index: 12, body: [] });
    const out = memoryOutput();
    const code = await monitorEval(new DroverClient({ address: nomad.fake.address }), out, EVAL);
    expect(code).toBe(2);
    expect(out.stdout()).toContain(
      [
        '==> Evaluation "e1e1e1e1" finished with status "complete" but failed to place all allocations:',
        '    Task Group "web" (failed to place 3 allocations):',
        '      * Resources exhausted on 3 nodes',
        '      * Dimension "memory" exhausted on 3 nodes',
        '    Evaluation "b10cb10c" waiting for additional capacity to place remainder',
      ].join('\n'),
    );
  });

  it('moves on to the next evaluation when one hands over', async () => {
    const NEXT = 'e2e2e2e2-0000-4000-8000-000000000002';
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, {
      index: 12,
      body: evaluation({ Status: 'complete', NextEval: NEXT }),
    });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, { index: 12, body: [] });
    nomad.fake.on('GET', `/v1/evaluation/${NEXT}`, {
      index: 13,
      body: evaluation({ ID: NEXT, Status: 'complete', TriggeredBy: 'rolling-update' }),
    });
    nomad.fake.on('GET', `/v1/evaluation/${NEXT}/allocations`, { index: 13, body: [] });
    const out = memoryOutput();
    expect(await monitorEval(new DroverClient({ address: nomad.fake.address }), out, EVAL)).toBe(0);
    expect(out.stdout()).toContain('Monitoring next evaluation "e2e2e2e2"');
    expect(out.stdout()).toContain('==> Evaluation "e2e2e2e2" finished with status "complete"');
  });

  it('runs the after-evaluation hook and uses its exit code', async () => {
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, {
      index: 12,
      body: evaluation({ Status: 'complete', DeploymentID: 'd1d1d1d1-0000' }),
    });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, { index: 12, body: [] });
    const out = memoryOutput();
    const seen: string[] = [];
    const code = await monitorEval(new DroverClient({ address: nomad.fake.address }), out, EVAL, {
      afterEval: async (ev) => {
        seen.push(ev.DeploymentID);
        return 1;
      },
    });
    expect(code).toBe(1);
    expect(seen).toEqual(['d1d1d1d1-0000']);
    expect(out.stdout()).toContain('Evaluation within deployment: "d1d1d1d1"');
  });

  it('exits 2 when the evaluation failed', async () => {
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}`, {
      index: 12,
      body: evaluation({ Status: 'failed', StatusDescription: 'maximum attempts reached' }),
    });
    nomad.fake.on('GET', `/v1/evaluation/${EVAL}/allocations`, { index: 12, body: [] });
    const out = memoryOutput();
    expect(await monitorEval(new DroverClient({ address: nomad.fake.address }), out, EVAL)).toBe(2);
    expect(out.stdout()).toContain('Evaluation status changed: "pending" -> "failed"');
  });
});
