import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { MemoryBackend, StateStore, upsertNode, type BackendBatch, type StateBackend } from '../state/index.js';
import { build } from '../testing/builders.js';
import { newPlan, type Allocation, type Plan } from '../structs/index.js';
import { nodeFits, PlanApplier } from './plan-applier.js';
import { allocsFit } from '../scheduler/index.js';

/** The applier under test over `store`, at time 0, with no outstanding eval token unless one is given. */
function newApplier(store: StateStore, outstandingToken: () => string | undefined = () => undefined): PlanApplier {
  return new PlanApplier({
    store,
    logger: nullLogger,
    clock: { now: () => 0 },
    allocsFit,
    outstandingToken,
    onCommitted: () => {},
  });
}

async function setup(nodeCpus: number[]) {
  const store = await StateStore.open({ backend: new MemoryBackend(), logger: nullLogger });
  await store.write((tx) =>
    nodeCpus.forEach((cpu, i) =>
      upsertNode(
        tx,
        build.node({
          ID: `n${i}`,
          NodeResources: { ...build.node().NodeResources, Cpu: { CpuShares: cpu, TotalCpuCores: 1 } },
        }),
        'c',
        0,
      ),
    ),
  );
  const applier = newApplier(store);
  return { store, applier };
}

function alloc(node: string, cpu: number, jobID = 'j'): Allocation {
  const job = build.job({ ID: jobID });
  const a = build.alloc({ Job: job, NodeID: node });
  return {
    ...a,
    AllocatedResources: {
      ...a.AllocatedResources,
      Tasks: { srv: { Cpu: { CpuShares: cpu }, Memory: { MemoryMB: 1, MemoryMaxMB: 0 } } },
    },
  };
}

function plan(placements: Allocation[], opts: Partial<Plan> = {}): Plan {
  const p = newPlan(`e-${Math.random()}`, 50, build.job({ ID: 'j' }), 0);
  for (const a of placements) (p.NodeAllocation[a.NodeID] ??= []).push(a);
  return { ...p, ...opts };
}

describe('PlanApplier', () => {
  it('commits a plan that fits and rejects the node part that does not, with a refresh index', async () => {
    const { store, applier } = await setup([1000, 1000]);
    const r = await applier.submit(plan([alloc('n0', 600), alloc('n1', 1200)]));
    expect(Object.keys(r.NodeAllocation)).toEqual(['n0']);
    expect(r.RejectedNodes).toEqual(['n1']);
    expect(r.RefreshIndex).toBeGreaterThan(0);
    expect(store.snapshot().allocsByNode('n0')[0]?.CreateIndex).toBe(r.AllocIndex);
    expect(store.snapshot().allocsByNode('n1')).toHaveLength(0);
  });

  it('rejects the whole plan when AllAtOnce is set and one node does not fit', async () => {
    const { store, applier } = await setup([1000, 1000]);
    const r = await applier.submit(plan([alloc('n0', 600), alloc('n1', 1200)], { AllAtOnce: true }));
    expect(r.NodeAllocation).toEqual({});
    expect(store.snapshot().allocsByNode('n0')).toHaveLength(0);
  });

  it('counts the plan own stops as freed capacity on the same node', async () => {
    const { store, applier } = await setup([1000]);
    const old = alloc('n0', 800);
    await applier.submit(plan([old]));
    const p = plan([alloc('n0', 800)]);
    p.NodeUpdate.n0 = [{ ...old, DesiredStatus: 'stop', DesiredDescription: 'replaced' }];
    const r = await applier.submit(p);
    expect(r.RejectedNodes).toEqual([]);
    const live = store.snapshot().liveAllocsByNode('n0');
    expect(live).toHaveLength(1);
    expect(store.snapshot().allocByID(old.ID)!.DesiredDescription).toBe('replaced');
  });

  it('refuses placements on a node that is down or missing', async () => {
    const { store, applier } = await setup([1000]);
    await store.write((tx) => tx.put('nodes', { ...tx.nodeByID('n0')!, Status: 'down' }));
    const r = await applier.submit(plan([alloc('n0', 10), alloc('ghost', 10)]));
    expect(r.RejectedNodes.sort()).toEqual(['ghost', 'n0']);
  });

  it('refuses a plan whose eval delivery token is stale', async () => {
    const store = await StateStore.open({ backend: new MemoryBackend(), logger: nullLogger });
    const applier = newApplier(store, () => 'current');
    await expect(applier.submit(plan([], { EvalToken: 'old' }))).rejects.toMatchObject({ code: 'Conflict' });
  });

  it('never over-commits a node, whatever concurrent plans are submitted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 100, max: 2000 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.array(fc.tuple(fc.nat(3), fc.integer({ min: 1, max: 900 })), { minLength: 1, maxLength: 5 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        async (cpus, plans, allAtOnce) => {
          const { store, applier } = await setup(cpus);
          // Every plan is made on the same (empty) snapshot and submitted at once: they race for capacity.
          const results = await Promise.all(
            plans.map((ps, i) =>
              applier.submit(
                plan(
                  ps.map(([n, cpu]) => alloc(`n${n % cpus.length}`, cpu)),
                  { AllAtOnce: allAtOnce[i] },
                ),
              ),
            ),
          );
          const snap = store.snapshot();
          cpus.forEach((cap, i) => {
            const used = snap
              .liveAllocsByNode(`n${i}`)
              .reduce((s, a) => s + a.AllocatedResources.Tasks.srv!.Cpu.CpuShares, 0);
            expect(used).toBeLessThanOrEqual(cap);
          });
          const committed = results.reduce((s, r) => s + Object.values(r.NodeAllocation).flat().length, 0);
          expect(committed).toBe(snap.tables.count('allocs'));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('decides like the full allocation-list check when it checks only the plan against the node usage', async () => {
    // The same arithmetic through a wrapper is not the default function, so nodeFits takes the full-list path.
    const fullList: typeof allocsFit = (node, allocs) => allocsFit(node, allocs);
    const withPorts = (a: Allocation, ports: number[]): Allocation =>
      ports.length === 0
        ? a
        : {
            ...a,
            AllocatedResources: {
              ...a.AllocatedResources,
              Shared: {
                DiskMB: 0,
                Networks: null,
                Ports: ports.map((p, i) => ({ Label: `p${i}`, Value: p, To: 0, HostIP: '' })),
              },
            },
          };
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.integer({ min: 1, max: 900 }),
            fc.array(fc.integer({ min: 20000, max: 20003 }), { maxLength: 2 }),
            fc.boolean(),
          ),
          { maxLength: 6 },
        ),
        fc.array(
          fc.tuple(
            fc.integer({ min: 1, max: 900 }),
            fc.array(fc.integer({ min: 20000, max: 20003 }), { maxLength: 2 }),
          ),
          { minLength: 1, maxLength: 4 },
        ),
        fc.array(fc.nat(), { maxLength: 3 }),
        async (existing, placing, stopPicks) => {
          const { store } = await setup([2000]);
          const live = existing.map(([cpu, ports, done]) => ({
            ...withPorts(alloc('n0', cpu), ports),
            ClientStatus: done ? 'complete' : 'running',
          }));
          await store.write((tx) => live.forEach((a) => tx.put('allocs', a)));
          const p = plan(placing.map(([cpu, ports]) => withPorts(alloc('n0', cpu), ports)));
          if (live.length > 0)
            p.NodeUpdate.n0 = [...new Set(stopPicks.map((i) => live[i % live.length]!))].map((a) => ({
              ...a,
              DesiredStatus: 'stop',
            }));
          await store.write((tx) => {
            expect(nodeFits(tx, p, 'n0', allocsFit)).toBe(nodeFits(tx, p, 'n0', fullList));
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('PlanApplier overlapping commits', () => {
  /**
   * A backend that holds every batch until released, accepting later ones meanwhile (as the SQLite worker).
   * As the backend contract asks, once a batch fails it refuses every later one until the store calls `recover`.
   */
  function gatedBackend() {
    const held: { index: number; release: () => void; fail: () => void }[] = [];
    const committed: number[] = [];
    let failed = false;
    const backend: StateBackend = {
      ordered: true,
      load: async () => ({ index: 0, tableIndexes: {} }),
      apply: (b: BackendBatch) =>
        new Promise<void>((resolve, reject) => {
          if (failed) return reject(new Error('an earlier batch failed'));
          held.push({
            index: b.index,
            release: () =>
              failed ? reject(new Error('an earlier batch failed')) : (committed.push(b.index), resolve()),
            fail: () => ((failed = true), reject(new Error('disk full'))),
          });
        }),
      recover: () => (failed = false),
      close: async () => {},
    };
    return { backend, held, committed };
  }

  it('evaluates the next plan against the uncommitted one before it, and answers each only after its commit', async () => {
    const { backend, held, committed } = gatedBackend();
    const store = await StateStore.open({ backend, logger: nullLogger });
    const setupWrite = store.write((tx) =>
      upsertNode(
        tx,
        build.node({
          ID: 'n0',
          NodeResources: { ...build.node().NodeResources, Cpu: { CpuShares: 1000, TotalCpuCores: 1 } },
        }),
        'c',
        0,
      ),
    );
    held.shift()!.release();
    await setupWrite;
    const applier = newApplier(store);
    const answered: string[] = [];
    const first = applier.submit(plan([alloc('n0', 600)])).then((r) => (answered.push('first'), r));
    const second = applier.submit(plan([alloc('n0', 300)])).then((r) => (answered.push('second'), r));
    // 600 + 300 are placed but not durable: a third 300 no longer fits, so it must see both.
    const third = applier.submit(plan([alloc('n0', 300)])).then((r) => (answered.push('third'), r));
    await new Promise((r) => setImmediate(r));
    expect(held.map((h) => h.index)).toEqual([2, 3]);
    expect(answered).toEqual([]);
    expect(store.latestIndex()).toBe(1);
    held.shift()!.release();
    await first;
    expect(answered).toEqual(['first']);
    held.shift()!.release();
    const [r1, r2, r3] = await Promise.all([first, second, third]);
    expect(answered).toEqual(['first', 'second', 'third']);
    expect([r1.RejectedNodes, r2.RejectedNodes, r3.RejectedNodes, committed]).toEqual([[], [], ['n0'], [1, 2, 3]]);
  });

  it('keeps at most maxInFlight plans evaluated ahead of their commits', async () => {
    const { backend, held } = gatedBackend();
    const store = await StateStore.open({ backend, logger: nullLogger });
    const setupWrite = store.write((tx) => upsertNode(tx, build.node({ ID: 'n0' }), 'c', 0));
    held.shift()!.release();
    await setupWrite;
    const applier = newApplier(store);
    const n = PlanApplier.maxInFlight + 3;
    const results = Array.from({ length: n }, () => applier.submit(plan([alloc('n0', 1)])));
    await new Promise((r) => setImmediate(r));
    expect(held).toHaveLength(PlanApplier.maxInFlight);
    while (held.length > 0) {
      held.shift()!.release();
      await new Promise((r) => setImmediate(r));
    }
    expect((await Promise.all(results)).map((r) => r.AllocIndex)).toEqual(Array.from({ length: n }, (_, i) => i + 2));
  });

  it('answers submitApplied once the plan is on the tip, before its commit, which settles after', async () => {
    const { backend, held } = gatedBackend();
    const store = await StateStore.open({ backend, logger: nullLogger });
    const setupWrite = store.write((tx) => upsertNode(tx, build.node({ ID: 'n0' }), 'c', 0));
    held.shift()!.release();
    await setupWrite;
    const applier = newApplier(store);
    const { result, committed } = await applier.submitApplied(plan([alloc('n0', 100)]), store.epoch);
    let durable = false;
    void committed.then(() => (durable = true));
    expect(result.NodeAllocation.n0).toHaveLength(1);
    expect(result.AllocIndex).toBe(2);
    // On the tip (the scheduler's view), not yet in what readers see.
    expect(store.tipSnapshot().allocsByNode('n0')).toHaveLength(1);
    expect(store.snapshot().allocsByNode('n0')).toHaveLength(0);
    await new Promise((r) => setImmediate(r));
    expect(durable).toBe(false);
    held.shift()!.release();
    await committed;
    expect(store.snapshot().allocsByNode('n0')).toHaveLength(1);
  });

  it('rejects the commit of an applied plan that failed, and refuses plans made before the tip was dropped', async () => {
    const { backend, held } = gatedBackend();
    const store = await StateStore.open({ backend, logger: nullLogger });
    const setupWrite = store.write((tx) => upsertNode(tx, build.node({ ID: 'n0' }), 'c', 0));
    held.shift()!.release();
    await setupWrite;
    const applier = newApplier(store);
    const epoch = store.epoch;
    const { committed } = await applier.submitApplied(plan([alloc('n0', 100)]), epoch);
    held.shift()!.fail();
    await expect(committed).rejects.toThrow(/failed to persist/);
    expect(store.epoch).not.toBe(epoch);
    expect(store.tipSnapshot().allocsByNode('n0')).toHaveLength(0);
    // A plan made on the dropped tip is refused; one made now is applied.
    await expect(applier.submitApplied(plan([alloc('n0', 100)]), epoch)).rejects.toThrow(/writes that were lost/);
    const again = await applier.submitApplied(plan([alloc('n0', 100)]), store.epoch);
    expect(again.result.NodeAllocation.n0).toHaveLength(1);
    held.shift()!.release();
    await again.committed;
  });
});
