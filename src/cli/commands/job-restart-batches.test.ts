import { describe, expect, it } from 'vitest';
import { UsageError } from '../command.js';
import { memoryOutput } from '../output.js';
import { allocStub, NOW_MS } from '../testing/fixtures.js';
import {
  batchCount,
  ordinal,
  parseBatchSize,
  parseBatchWait,
  restartPlan,
  runRestartBatches,
  type BatchDeps,
  type RestartFlags,
} from './job-restart-batches.js';
import type { AllocListStub } from '../../structs/index.js';

const allocs = (n: number): AllocListStub[] =>
  Array.from({ length: n }, (_, i) =>
    allocStub({
      ID: `a${i}a${i}a${i}a${i}-0000-4000-8000-00000000000${i}`,
      CreateIndex: 10 + i,
      ClientStatus: 'running',
      DesiredStatus: 'run',
    }),
  );

interface Harness {
  deps: BatchDeps;
  out: ReturnType<typeof memoryOutput>;
  order: string[];
  maxInFlight: () => number;
  sleeps: number[];
  questions: string[];
}

/** Restarts take a few ms each and record how many were in flight at once. */
function harness(
  opts: { fail?: Set<string>; answers?: (string | undefined)[]; interactive?: boolean; gone?: Set<string> } = {},
): Harness {
  const out = memoryOutput();
  const order: string[] = [];
  let inFlight = 0;
  let max = 0;
  const sleeps: number[] = [];
  const questions: string[] = [];
  const answers = [...(opts.answers ?? [])];
  const deps: BatchDeps = {
    out,
    now: () => NOW_MS,
    restartOne: async (a) => {
      inFlight++;
      max = Math.max(max, inFlight);
      order.push(a.ID.slice(0, 2));
      // A restart takes time, so the batches overlap if the command fails to wait for one before the next.
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (opts.fail?.has(a.ID.slice(0, 2))) throw new Error('task "main" did not start again');
    },
    current: async (a) =>
      opts.gone?.has(a.ID.slice(0, 2)) ? { ...a, DesiredStatus: 'stop', ClientStatus: 'complete' } : a,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...(opts.interactive
      ? {
          ask: async (q: string) => {
            questions.push(q);
            return answers.shift();
          },
        }
      : {}),
  };
  return { deps, out, order, maxInFlight: () => max, sleeps, questions };
}

const plan = (f: RestartFlags = {}) => restartPlan(f);

describe('job restart batching', () => {
  it('restarts every allocation in batches of at most the batch size, one batch after the other', async () => {
    const h = harness();
    const code = await runRestartBatches(allocs(5), plan({ batchSize: '2' }), h.deps);
    expect(code).toBe(0);
    expect(h.order).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(h.maxInFlight()).toBe(2);
    const text = h.out.stdout();
    expect(text).toContain('==> 2026-11-21T12:00:00Z: Restarting 5 allocations\n');
    expect(text).toContain('==> 2026-11-21T12:00:00Z: Restarting 1st batch of 2 allocations\n');
    expect(text).toContain('==> 2026-11-21T12:00:00Z: Restarting 3rd batch of 1 allocation\n');
    expect(text).toContain(
      '    2026-11-21T12:00:00Z: Restarting running tasks in allocation "a0a0a0a0" for group "web"\n',
    );
    expect(text).toMatch(/Finished job restart\n\nAll allocations restarted successfully!\n$/);
  });

  it('sizes percentage batches from the number of allocations, rounding up', () => {
    expect(batchCount(parseBatchSize('25%'), 5)).toBe(2);
    expect(batchCount(parseBatchSize('100%'), 5)).toBe(5);
    expect(batchCount(parseBatchSize('1%'), 3)).toBe(1);
    expect(batchCount(parseBatchSize('3'), 5)).toBe(3);
  });

  it('refuses batch sizes, waits and flag combinations that make no sense', () => {
    expect(() => parseBatchSize('0')).toThrow('Invalid -batch-size value "0": it must be greater than zero');
    expect(() => parseBatchSize('abc')).toThrow(
      'Invalid -batch-size value "abc": expected a number of allocations or a percentage',
    );
    expect(() => parseBatchSize('150%')).toThrow('at most 100%');
    expect(() => parseBatchWait('soon')).toThrow('Invalid -batch-wait value "soon"');
    expect(parseBatchWait('1m30s')).toBe(90_000);
    expect(parseBatchWait('ASK')).toBe('ask');
    expect(() => plan({ allTasks: true, tasks: ['a'] })).toThrow(UsageError);
    expect(() => plan({ reschedule: true, tasks: ['a'] })).toThrow('-reschedule option cannot be used with -task');
    expect(() => plan({ onError: 'retry' })).toThrow('Invalid -on-error value "retry"');
  });

  it('waits between batches but not after the last one', async () => {
    const h = harness();
    await runRestartBatches(allocs(3), plan({ batchWait: '10s' }), h.deps);
    expect(h.sleeps).toEqual([10_000, 10_000]);
    expect(h.out.stdout()).toContain('Waiting 10s before restarting the next batch');
  });

  it('stops after a failed batch when nobody can answer, naming the allocation and the reason', async () => {
    const h = harness({ fail: new Set(['a0']) });
    const code = await runRestartBatches(allocs(3), plan(), h.deps);
    expect(code).toBe(1);
    expect(h.order).toEqual(['a0']);
    expect(h.out.stdout()).toContain('Job restart canceled');
    expect(h.out.stderr()).toContain('Error restarting allocation "a0a0a0a0": task "main" did not start again');
  });

  it('goes on after a failed batch with -yes or a "y" answer, and still exits non-zero', async () => {
    const yes = harness({ fail: new Set(['a0']) });
    expect(await runRestartBatches(allocs(3), plan({ yes: true }), yes.deps)).toBe(1);
    expect(yes.order).toEqual(['a0', 'a1', 'a2']);
    expect(yes.out.stderr()).toContain('1 allocation failed to restart');
    const asked = harness({ fail: new Set(['a0']), interactive: true, answers: ['y'] });
    expect(await runRestartBatches(allocs(2), plan(), asked.deps)).toBe(1);
    expect(asked.order).toEqual(['a0', 'a1']);
    expect(asked.questions[0]).toContain('Proceed with the remaining batches? [y/N]');
    const failFast = harness({ fail: new Set(['a0']), interactive: true, answers: ['y'] });
    expect(await runRestartBatches(allocs(2), plan({ onError: 'fail', yes: true }), failFast.deps)).toBe(1);
    expect(failFast.order).toEqual(['a0']);
  });

  it('asks between batches with -batch-wait ask: a duration becomes the new wait, "n" cancels', async () => {
    const h = harness({ interactive: true, answers: ['2s'] });
    expect(await runRestartBatches(allocs(3), plan({ batchWait: 'ask' }), h.deps)).toBe(0);
    expect(h.order).toEqual(['a0', 'a1', 'a2']);
    expect(h.questions).toHaveLength(1);
    expect(h.sleeps).toEqual([2000, 2000]);
    expect(h.out.stdout()).toContain('Proceeding restarts with new wait time of 2s');
    const no = harness({ interactive: true, answers: ['', 'n'] });
    expect(await runRestartBatches(allocs(3), plan({ batchWait: 'ask' }), no.deps)).toBe(1);
    expect(no.order).toEqual(['a0', 'a1']);
    expect(no.out.stdout()).toContain('Job restart canceled');
  });

  it('skips allocations that stopped before their batch', async () => {
    const h = harness({ gone: new Set(['a1']) });
    expect(await runRestartBatches(allocs(3), plan({ batchSize: '3' }), h.deps)).toBe(0);
    expect(h.order).toEqual(['a0', 'a2']);
    expect(h.out.stdout()).toContain('Skipping allocation "a1a1a1a1": it is no longer running');
  });

  it('names batches with english ordinals', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal)).toEqual([
      '1st',
      '2nd',
      '3rd',
      '4th',
      '11th',
      '12th',
      '13th',
      '21st',
      '22nd',
      '101st',
    ]);
  });
});
