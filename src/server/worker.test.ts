import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { StateStore, upsertEvals, type BackendBatch, type StateBackend } from '../state/index.js';
import { build } from '../testing/builders.js';
import type { Evaluation } from '../structs/index.js';
import type { SchedulerConfiguration } from '../scheduler/types.js';
import type { EvalBroker } from './eval-broker.js';
import type { PlanApplier } from './plan-applier.js';
import { Worker, type WorkerDeps } from './worker.js';

/** A store whose backend holds every batch until the test releases it (or fails it), as a slow disk would. */
async function gatedStore() {
  const held: { release: () => void; fail: (e: Error) => void }[] = [];
  const backend: StateBackend = {
    ordered: true,
    load: async () => ({ index: 0, tableIndexes: {} }),
    apply: (_b: BackendBatch) => new Promise<void>((resolve, reject) => held.push({ release: resolve, fail: reject })),
    close: async () => {},
  };
  return { store: await StateStore.open({ backend, logger: nullLogger }), held };
}

function workerOver(store: StateStore) {
  const calls: string[] = [];
  const broker = {
    ack: (id: string) => calls.push(`ack ${id}`),
    nack: (id: string) => calls.push(`nack ${id}`),
  } as unknown as EvalBroker;
  const deps: WorkerDeps = {
    store,
    broker,
    plans: {} as PlanApplier,
    logger: nullLogger,
    clock: { now: () => 0 },
    // The scheduler under test only completes its eval, as a scheduler with nothing to place does.
    newScheduler: (_type, _state, planner) => ({
      process: (ev: Evaluation) => planner.updateEval({ ...ev, Status: 'complete' }),
    }),
    schedulerConfig: () => undefined as unknown as SchedulerConfiguration,
    writeEvals: async (evs) => (await store.write((tx) => upsertEvals(tx, evs, 0))).result,
    routeEval: () => {},
  };
  return { worker: new Worker(deps, 1), calls };
}

describe('Worker with an asynchronous state backend', () => {
  it('is free for the next eval while the eval update commits, and acks only once it is durable', async () => {
    const { store, held } = await gatedStore();
    const { worker, calls } = workerOver(store);
    const ev = build.eval({ Job: build.job({ ID: 'web' }), ID: 'e1' });
    await worker.processOne(ev, 'tok', new AbortController().signal, nullLogger);
    expect(held).toHaveLength(1);
    expect(calls).toEqual([]);
    expect(store.snapshot().evalByID('e1')).toBeUndefined();
    held[0]!.release();
    await worker.stopped();
    expect(calls).toEqual(['ack e1']);
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
    expect(calls).toEqual(['nack e2']);
  });
});
