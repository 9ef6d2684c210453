import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { sumNodeUsage, type Allocation, type NodeResourceUsage } from '../structs/index.js';
import { MemoryBackend } from './backend.js';
import { StateStore, type StateSnapshot } from './store.js';
import { build } from '../testing/builders.js';

const NODES = ['n1', 'n2', 'n3'];
const job = build.job({ ID: 'web' });

/** One allocation write, as the server's paths make them: place, client update, server stop, move, delete (GC). */
type Op =
  | { kind: 'place'; node: number; cpu: number; mem: number; disk: number; ports: number[] }
  | { kind: 'client'; pick: number; status: 'running' | 'complete' | 'failed' | 'lost' | 'pending' }
  | { kind: 'stop'; pick: number }
  | { kind: 'move'; pick: number; node: number }
  | { kind: 'delete'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('place' as const),
    node: fc.nat(NODES.length - 1),
    cpu: fc.nat(4000),
    mem: fc.nat(2048),
    disk: fc.nat(500),
    ports: fc.array(fc.integer({ min: 20000, max: 20005 }), { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant('client' as const),
    pick: fc.nat(),
    status: fc.constantFrom(
      'running' as const,
      'complete' as const,
      'failed' as const,
      'lost' as const,
      'pending' as const,
    ),
  }),
  fc.record({ kind: fc.constant('stop' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), node: fc.nat(NODES.length - 1) }),
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
);

function allocFor(op: Extract<Op, { kind: 'place' }>): Allocation {
  const a = build.alloc({ Job: job, NodeID: NODES[op.node]! });
  const task = Object.keys(a.AllocatedResources.Tasks)[0]!;
  return {
    ...a,
    AllocatedResources: {
      Tasks: {
        [task]: {
          Cpu: { CpuShares: op.cpu },
          Memory: { MemoryMB: op.mem, MemoryMaxMB: 0 },
          Networks:
            op.ports.length > 0
              ? [
                  {
                    Mode: 'host',
                    Device: '',
                    CIDR: '',
                    IP: '',
                    MBits: 0,
                    DNS: null,
                    ReservedPorts: null,
                    DynamicPorts: op.ports.map((p, i) => ({ Label: `p${i}`, Value: p, To: 0, HostNetwork: 'default' })),
                  },
                ]
              : null,
        },
      },
      Shared: { DiskMB: op.disk, Networks: null, Ports: null },
    },
  };
}

/** The aggregate in a comparable form: undefined and an empty sum are the same thing. */
function norm(u: NodeResourceUsage | undefined): object {
  if (u === undefined || u.allocs === 0)
    return { cpu: 0, memoryMB: 0, diskMB: 0, allocs: 0, ports: [], portCollisions: 0 };
  return {
    cpu: u.cpu,
    memoryMB: u.memoryMB,
    diskMB: u.diskMB,
    allocs: u.allocs,
    ports: [...(u.ports ?? new Map())].sort((a, b) => a[0] - b[0]),
    portCollisions: u.portCollisions,
  };
}

function expectMatchesRecomputation(snap: StateSnapshot): void {
  for (const n of NODES) expect(norm(snap.nodeUsage(n))).toEqual(norm(sumNodeUsage(snap.allocsByNode(n))));
}

describe('per-node usage in the state store', () => {
  it('always equals the sum recomputed from the allocations, after any sequence of allocation writes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 12 }),
        async (batches) => {
          const backend = new MemoryBackend();
          const store = await StateStore.open({ backend, logger: nullLogger });
          const ids: string[] = [];
          for (const ops of batches) {
            // Several writes per transaction: later ones see (and adjust) the earlier ones' sums.
            await store.write((tx) => {
              for (const op of ops) {
                if (op.kind === 'place') {
                  const a = allocFor(op);
                  tx.put('allocs', a);
                  ids.push(a.ID);
                  continue;
                }
                if (ids.length === 0) continue;
                const id = ids[op.pick % ids.length]!;
                const cur = tx.allocByID(id);
                if (cur == null) continue;
                if (op.kind === 'client') tx.put('allocs', { ...cur, ClientStatus: op.status });
                else if (op.kind === 'stop') tx.put('allocs', { ...cur, DesiredStatus: 'stop' });
                else if (op.kind === 'move') tx.put('allocs', { ...cur, NodeID: NODES[op.node]! });
                else tx.delete('allocs', id);
              }
              for (const n of NODES) expect(norm(tx.nodeUsage(n))).toEqual(norm(sumNodeUsage(tx.allocsByNode(n))));
            });
            expectMatchesRecomputation(store.snapshot());
          }
          // A restart rebuilds the sums from the stored rows: the same figures.
          const reopened = await StateStore.open({ backend, logger: nullLogger });
          expectMatchesRecomputation(reopened.snapshot());
          for (const n of NODES)
            expect(norm(reopened.snapshot().nodeUsage(n))).toEqual(norm(store.snapshot().nodeUsage(n)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('leaves an earlier snapshot’s sums unchanged when later writes change them', async () => {
    const store = await StateStore.open({ backend: new MemoryBackend(), logger: nullLogger });
    const a = allocFor({ kind: 'place', node: 0, cpu: 500, mem: 256, disk: 10, ports: [20001] });
    await store.write((tx) => tx.put('allocs', a));
    const before = store.snapshot();
    await store.write((tx) => {
      tx.put('allocs', allocFor({ kind: 'place', node: 0, cpu: 100, mem: 64, disk: 0, ports: [20002] }));
      tx.put('allocs', { ...a, ClientStatus: 'complete' });
    });
    expect(norm(before.nodeUsage('n1'))).toEqual({
      cpu: 500,
      memoryMB: 256,
      diskMB: 10,
      allocs: 1,
      ports: [[20001, 1]],
      portCollisions: 0,
    });
    expect(norm(store.snapshot().nodeUsage('n1'))).toEqual({
      cpu: 100,
      memoryMB: 64,
      diskMB: 0,
      allocs: 1,
      ports: [[20002, 1]],
      portCollisions: 0,
    });
  });
});
