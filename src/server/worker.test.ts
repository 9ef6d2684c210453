import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { StateStore, upsertEvals, upsertNode, type BackendBatch, type StateBackend } from '../state/index.js';
import { build } from '../testing/builders.js';
import { newPlan, type Evaluation } from '../structs/index.js';
import { allocsFit } from '../scheduler/index.js';
import type { Planner, SchedulerConfiguration } from '../scheduler/types.js';
import type { EvalBroker } from './eval-broker.js';
import { PlanApplier } from './plan-applier.js';
import { Worker, type WorkerDeps } from './worker.js';

/**
 * A store whose backend holds every batch until the test releases it (or fails it), as a slow disk would. As the
 * backend contract asks, once a batch fails it refuses every later one until the store calls `recover`.
 */
async function gatedStore() {
  const held: { release: () => void; fail: (e: Error) => void }[] = [];
  let failed = false;
  const refused = () => new Error('an earlier batch failed');
  const backend: StateBackend = {
    ordered: true,
    load: async () => ({ index: 0, tableIndexes: {} }),
    apply: (_b: BackendBatch) =>
      new Promise<void>((resolve, reject) => {
        if (failed) return reject(refused());
        held.push({
          release: () => (failed ? reject(refused()) : resolve()),
          fail: (e) => ((failed = true), reject(e)),
        });
      }),
    recover: () => (failed = false),
    close: async () => {},
  };
  return { store: await StateStore.open({ backend, logger: nullLogger }), held };
}

type Process = (ev: Evaluation, planner: Planner) => Promise<void>;

/** The scheduler under test by default only completes its eval, as a scheduler with nothing to place does. */
const completeOnly: Process = (ev, planner) => planner.updateEval({ ...ev, Status: 'complete' });

function workerOver(store: StateStore, process: Process = completeOnly) {
  const calls: string[] = [];
  const broker = {
    ack: (id: string) => calls.push(`ack ${id}`),
    nack: (id: string) => calls.push(`nack ${id}`),
    outstandingReset: (id: string) => calls.push(`reset ${id}`),
  } as unknown as EvalBroker;
  const plans = new PlanApplier({
    store,
    logger: nullLogger,
    clock: { now: () => 0 },
    allocsFit,
    outstandingToken: () => 'tok',
    onCommitted: () => {},
  });
  const deps: WorkerDeps = {
    store,
    broker,
    plans,
    logger: nullLogger,
    clock: { now: () => 0 },
    newScheduler: (_type, _state, planner) => ({ process: (ev: Evaluation) => process(ev, planner) }),
    schedulerConfig: () => undefined as unknown as SchedulerConfiguration,
    writeEvals: async (evs) => (await store.write((tx) => upsertEvals(tx, evs, 0))).result,
    routeEval: () => {},
  };
  return { worker: new Worker(deps, 1), calls: () => calls.filter((c) => !c.startsWith('reset')), all: calls };
}

const run = (worker: Worker, ev: Evaluation) => worker.processOne(ev, 'tok', new AbortController().signal, nullLogger);

describe('Worker with an asynchronous state backend', () => {
  it('is free for the next eval while the eval update commits, and acks only once it is durable', async () => {
    const { store, held } = await gatedStore();
    const { worker, calls } = workerOver(store);
    const ev = build.eval({ Job: build.job({ ID: 'web' }), ID: 'e1' });
    await worker.processOne(ev, 'tok', new AbortController().signal, nullLogger);
    expect(held).toHaveLength(1);
    expect(calls()).toEqual([]);
    expect(store.snapshot().evalByID('e1')).toBeUndefined();
    held[0]!.release();
    await worker.stopped();
    expect(calls()).toEqual(['ack e1']);
    expect(store.snapshot().evalByID('e1')?.Status).toBe('complete');
  });

  it('nacks the eval instead of acking it when its update cannot be made durable', async () => {
    const { store, held } = await gatedStore();
    const { worker, calls } = workerOver(store);
    await worker.processOne(
      build.eval({ Job: build.job({ ID: 'web' }), ID: 'e2' }),
      'tok',
      new AbortController().signal,
      nullLogger,
    );
    held[0]!.fail(new Error('disk full'));
    await worker.stopped();
    expect(calls()).toEqual(['nack e2']);
  });

  it('keeps the delivery alive while its update commits, so a slow disk does not trip the nack timer', async () => {
    const { store, held } = await gatedStore();
    const { worker, all } = workerOver(store);
    await run(worker, build.eval({ Job: build.job({ ID: 'web' }), ID: 'e1' }));
    expect(all).toEqual(['reset e1']);
    held[0]!.release();
    await worker.stopped();
    expect(all).toEqual(['reset e1', 'reset e1', 'ack e1']);
  });

  it('nacks the eval when an earlier unrelated write fails, though its own update was accepted', async () => {
    const { store, held } = await gatedStore();
    const { worker, calls } = workerOver(store);
    const unrelated = store.write((tx) => tx.put('jobs', build.job({ ID: 'other' })));
    await run(worker, build.eval({ Job: build.job({ ID: 'web' }), ID: 'e3' }));
    expect(held).toHaveLength(2);
    held[0]!.fail(new Error('disk full'));
    held[1]!.release();
    await expect(unrelated).rejects.toMatchObject({ code: 'Internal' });
    await worker.stopped();
    expect(calls()).toEqual(['nack e3']);
    expect(store.snapshot().evalByID('e3')).toBeUndefined();
  });

  it('nacks the eval when the commit of its plan fails', async () => {
    const { store, held } = await gatedStore();
    const node = store.write((tx) => upsertNode(tx, build.node({ ID: 'n0' }), 'c', 0));
    held.shift()!.release();
    await node;
    const { worker, calls } = workerOver(store, async (ev, planner) => {
      const p = newPlan(ev.ID, 50, build.job({ ID: 'web' }), 0);
      p.NodeAllocation.n0 = [build.alloc({ Job: build.job({ ID: 'web' }), NodeID: 'n0', EvalID: ev.ID })];
      const { result } = await planner.submitPlan(p);
      expect(result.NodeAllocation.n0).toHaveLength(1);
      await planner.updateEval({ ...ev, Status: 'complete' });
    });
    await run(worker, build.eval({ Job: build.job({ ID: 'web' }), ID: 'e4' }));
    // The plan is on the tip and the eval update was built on it; neither is durable yet.
    expect(held).toHaveLength(2);
    expect(calls()).toEqual([]);
    held[0]!.fail(new Error('disk full'));
    held[1]!.release();
    await worker.stopped();
    expect(calls()).toEqual(['nack e4']);
    expect(store.snapshot().allocsByNode('n0')).toHaveLength(0);
    expect(store.snapshot().evalByID('e4')).toBeUndefined();
  });

  it.each(['updateEval', 'createEval', 'reblockEval'] as const)(
    'refuses %s once the tip the eval was planned on is dropped, and nacks',
    async (method) => {
      const { store, held } = await gatedStore();
      const { worker, calls } = workerOver(store, async (ev, planner) => {
        // A write the scheduler did not make fails while it plans: the tip it read is dropped.
        const lost = store.write((tx) => tx.put('jobs', build.job({ ID: 'other' })));
        held.shift()!.fail(new Error('disk full'));
        await lost.catch(() => undefined);
        await planner[method]({ ...ev, ID: `${ev.ID}-next`, Status: 'pending' });
      });
      await run(worker, build.eval({ Job: build.job({ ID: 'web' }), ID: 'e5' }));
      await worker.stopped();
      expect(calls()).toEqual(['nack e5']);
      expect(held).toHaveLength(0);
      expect(store.tipSnapshot().evalByID('e5-next')).toBeUndefined();
    },
  );
});
