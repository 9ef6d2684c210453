import { describe, expect, it } from 'vitest';
import type { Allocation, Job, Node } from '../../structs/index.js';
import { NS_PER_S } from '../../structs/index.js';
import { flattenPlanned, Harness } from '../testing/index.js';
import { nomadMock } from '../../testing/nomad-mock.js';
import { build } from '../../testing/builders.js';

const T0 = 1_700_000_000_000;
const lostAfter = 30 * NS_PER_S;

interface Setup {
  h: Harness;
  island: Node;
  job: Job;
  original: Allocation;
  now: { ms: number };
}

/** One alloc of a count-1 group on `island`, with a second ready node for its replacement. */
function setup(disconnect: Record<string, unknown> | null): Setup {
  const h = new Harness();
  const now = { ms: T0 };
  h.clock = { now: () => now.ms };
  const island = h.upsertNode(nomadMock.node());
  h.upsertNode(nomadMock.node());
  const base = nomadMock.job();
  base.TaskGroups[0]!.Count = 1;
  if (disconnect)
    base.TaskGroups[0]!.Disconnect = { LostAfter: lostAfter, Replace: true, Reconcile: 'best_score', ...disconnect };
  const job = h.upsertJob(base);
  const original = nomadMock.alloc(job, island, 0, { ClientStatus: 'running' });
  h.upsertAllocs([original]);
  return { h, island, job, original, now };
}

async function disconnectIsland(s: Setup): Promise<void> {
  s.h.upsertNode({ ...s.island, Status: 'disconnected' });
  await s.h.process(build.eval({ Job: s.job, TriggeredBy: 'node-update', NodeID: s.island.ID }));
}

/** The island comes back and its client reports the original running again; the replacement runs too. */
function reconnectIsland(
  s: Setup,
  original: Partial<Allocation> = {},
  replacement: Partial<Allocation> = {},
): Allocation {
  s.h.upsertNode({ ...s.island, Status: 'ready' });
  const repl = s.h.liveAllocs(s.job.Namespace, s.job.ID).find((a) => a.ID !== s.original.ID);
  const stored = s.h.allocByID(s.original.ID)!;
  s.h.upsertAllocs([{ ...stored, ClientStatus: 'running', ...original }]);
  if (repl) s.h.upsertAllocs([{ ...repl, ClientStatus: 'running', ...replacement }]);
  return repl!;
}

const reconnectEval = (s: Setup) => build.eval({ Job: s.job, TriggeredBy: 'reconnect' });
const scoreOn = (a: Allocation, score: number): Partial<Allocation> => ({
  Metrics: {
    ...(a.Metrics ?? ({} as Allocation['Metrics'] & object)),
    ScoreMetaData: [{ NodeID: a.NodeID, Scores: {}, NormScore: score }],
  } as Allocation['Metrics'],
});

describe('allocations of a disconnected client', () => {
  it('marks the alloc unknown, replaces it under the same name elsewhere, and schedules the lost_after timeout', async () => {
    const s = setup({});
    await disconnectIsland(s);
    const plan = s.h.lastPlan()!;
    const marked = plan.NodeAllocation[s.island.ID]!;
    expect(marked.map((a) => [a.ID, a.ClientStatus])).toEqual([[s.original.ID, 'unknown']]);
    const placed = flattenPlanned(plan.NodeAllocation).filter((a) => a.NodeID !== s.island.ID);
    expect(placed.map((a) => [a.Name, a.PreviousAllocation])).toEqual([[s.original.Name, s.original.ID]]);
    expect(flattenPlanned(plan.NodeUpdate)).toHaveLength(0);
    const timeout = s.h.createdEvals.find((e) => e.TriggeredBy === 'max-disconnect-timeout')!;
    expect(timeout.WaitUntil).toBe(new Date(T0 + 30_000).toISOString());
    expect(s.h.allocByID(s.original.ID)!.FollowupEvalID).toBe(timeout.ID);
    expect(s.h.allocByID(s.original.ID)!.AllocStates?.at(-1)).toMatchObject({
      Field: 'ClientStatus',
      Value: 'unknown',
    });
  });

  it('keeps the unknown alloc as the only copy when replace is false', async () => {
    const s = setup({ Replace: false });
    await disconnectIsland(s);
    expect(flattenPlanned(s.h.lastPlan()!.NodeAllocation).map((a) => [a.ID, a.ClientStatus])).toEqual([
      [s.original.ID, 'unknown'],
    ]);
    await s.h.process(build.eval({ Job: s.job }));
    expect(s.h.liveAllocs(s.job.Namespace, s.job.ID).filter((a) => a.ID !== s.original.ID)).toHaveLength(0);
  });

  it('treats a disconnected node like a down one for groups without a disconnect block', async () => {
    const s = setup(null);
    await disconnectIsland(s);
    const plan = s.h.lastPlan()!;
    expect(plan.NodeUpdate[s.island.ID]?.map((a) => a.ClientStatus)).toEqual(['lost']);
    expect(flattenPlanned(plan.NodeAllocation).map((a) => a.PreviousAllocation)).toEqual([s.original.ID]);
  });

  it('accepts max_client_disconnect as lost_after', async () => {
    const s = setup(null);
    const j = structuredClone(s.job);
    j.TaskGroups[0]!.MaxClientDisconnect = lostAfter;
    s.job = s.h.upsertJob(j);
    s.h.upsertAllocs([{ ...s.original, Job: s.job }]);
    await disconnectIsland(s);
    expect(s.h.allocByID(s.original.ID)!.ClientStatus).toBe('unknown');
  });

  it('marks the unknown alloc lost once lost_after has passed, without placing a second replacement', async () => {
    const s = setup({});
    await disconnectIsland(s);
    s.now.ms = T0 + 31_000;
    const plans = s.h.plans.length;
    await s.h.process(build.eval({ Job: s.job, TriggeredBy: 'max-disconnect-timeout' }));
    expect(s.h.plans.length).toBe(plans + 1);
    const plan = s.h.lastPlan()!;
    expect(plan.NodeUpdate[s.island.ID]?.map((a) => [a.ID, a.ClientStatus])).toEqual([[s.original.ID, 'lost']]);
    expect(flattenPlanned(plan.NodeAllocation)).toHaveLength(0);
    expect(s.h.liveAllocs(s.job.Namespace, s.job.ID)).toHaveLength(1);
  });

  it('replaces the alloc once lost_after has passed when replace is false', async () => {
    const s = setup({ Replace: false });
    await disconnectIsland(s);
    s.now.ms = T0 + 31_000;
    await s.h.process(build.eval({ Job: s.job, TriggeredBy: 'max-disconnect-timeout' }));
    const plan = s.h.lastPlan()!;
    expect(plan.NodeUpdate[s.island.ID]?.map((a) => a.ClientStatus)).toEqual(['lost']);
    expect(flattenPlanned(plan.NodeAllocation).map((a) => [a.Name, a.PreviousAllocation])).toEqual([
      [s.original.Name, s.original.ID],
    ]);
  });

  it('holds an unknown alloc on a node that is back until its client reports', async () => {
    const s = setup({ Reconcile: 'keep_original' });
    await disconnectIsland(s);
    s.h.upsertNode({ ...s.island, Status: 'ready' });
    const plans = s.h.plans.length;
    await s.h.process(build.eval({ Job: s.job, TriggeredBy: 'node-update' }));
    expect(s.h.plans.length).toBe(plans);
    expect(s.h.liveAllocs(s.job.Namespace, s.job.ID)).toHaveLength(2);
    expect(s.h.allocByID(s.original.ID)!.ClientStatus).toBe('unknown');
  });
});

describe('reconnecting a disconnected client', () => {
  const stopped = (s: Setup) => flattenPlanned(s.h.lastPlan()!.NodeUpdate);

  it('keep_original stops the replacement and records the reconnect on the original', async () => {
    const s = setup({ Reconcile: 'keep_original' });
    await disconnectIsland(s);
    const repl = reconnectIsland(s);
    await s.h.process(reconnectEval(s));
    expect(stopped(s).map((a) => [a.ID, a.DesiredDescription])).toEqual([
      [repl.ID, 'alloc not needed due to disconnected client reconnect'],
    ]);
    expect(s.h.allocByID(s.original.ID)!.AllocStates?.at(-1)).toMatchObject({
      Field: 'ClientStatus',
      Value: 'running',
    });
    expect(s.h.liveAllocs(s.job.Namespace, s.job.ID).map((a) => a.ID)).toEqual([s.original.ID]);
    // Settled: the next pass changes nothing, even after lost_after would have passed.
    s.now.ms = T0 + 120_000;
    const plans = s.h.plans.length;
    await s.h.process(build.eval({ Job: s.job }));
    expect(s.h.plans.length).toBe(plans);
  });

  it('keep_replacement stops the original', async () => {
    const s = setup({ Reconcile: 'keep_replacement' });
    await disconnectIsland(s);
    const repl = reconnectIsland(s);
    await s.h.process(reconnectEval(s));
    expect(stopped(s).map((a) => a.ID)).toEqual([s.original.ID]);
    expect(s.h.liveAllocs(s.job.Namespace, s.job.ID).map((a) => a.ID)).toEqual([repl.ID]);
  });

  it('best_score keeps the copy with the higher placement score', async () => {
    const s = setup({ Reconcile: 'best_score' });
    await disconnectIsland(s);
    const repl = s.h.liveAllocs(s.job.Namespace, s.job.ID).find((a) => a.ID !== s.original.ID)!;
    reconnectIsland(s, scoreOn(s.original, 0.4), scoreOn(repl, 0.9));
    await s.h.process(reconnectEval(s));
    expect(stopped(s).map((a) => a.ID)).toEqual([s.original.ID]);
  });

  it('best_score keeps the original on a tie or a better original score', async () => {
    for (const score of [0.7, 0.9]) {
      const s = setup({});
      await disconnectIsland(s);
      const repl = s.h.liveAllocs(s.job.Namespace, s.job.ID).find((a) => a.ID !== s.original.ID)!;
      reconnectIsland(s, scoreOn(s.original, score), scoreOn(repl, 0.7));
      await s.h.process(reconnectEval(s));
      expect(stopped(s).map((a) => a.ID)).toEqual([repl.ID]);
    }
  });

  it('longest_running keeps the copy that has run without interruption the longest', async () => {
    const started = (iso: string) => ({
      TaskStates: {
        web: {
          State: 'running',
          Failed: false,
          Restarts: 0,
          LastRestart: null,
          StartedAt: iso,
          FinishedAt: null,
          Events: [],
        },
      },
    });
    const s = setup({ Reconcile: 'longest_running' });
    await disconnectIsland(s);
    reconnectIsland(s, started(new Date(T0 - 3_600_000).toISOString()), started(new Date(T0 + 1000).toISOString()));
    await s.h.process(reconnectEval(s));
    expect(stopped(s).map((a) => a.ID)).not.toContain(s.original.ID);

    // The original restarted after its replacement started: the replacement has run longer.
    const s2 = setup({ Reconcile: 'longest_running' });
    await disconnectIsland(s2);
    const repl = reconnectIsland(
      s2,
      started(new Date(T0 + 5000).toISOString()),
      started(new Date(T0 + 1000).toISOString()),
    );
    await s2.h.process(reconnectEval(s2));
    expect(stopped(s2).map((a) => a.ID)).toEqual([s2.original.ID]);
    expect(s2.h.liveAllocs(s2.job.Namespace, s2.job.ID).map((a) => a.ID)).toEqual([repl.ID]);
  });

  it('keeps a reconnected original that was never replaced (replace = false) and records the reconnect', async () => {
    const s = setup({ Replace: false });
    await disconnectIsland(s);
    reconnectIsland(s);
    await s.h.process(reconnectEval(s));
    expect(stopped(s)).toHaveLength(0);
    expect(flattenPlanned(s.h.lastPlan()!.NodeAllocation).map((a) => a.ID)).toEqual([s.original.ID]);
    expect(s.h.allocByID(s.original.ID)!.AllocStates?.at(-1)?.Value).toBe('running');
  });

  it('follows the reschedule policy for an original that failed while away: replaced already, or rescheduled', async () => {
    const failed = { ClientStatus: 'failed', ModifyTime: (T0 - 60_000) * 1e6 };
    const s = setup({ Reconcile: 'keep_original' });
    await disconnectIsland(s);
    const repl = reconnectIsland(s, failed);
    await s.h.process(reconnectEval(s));
    expect(s.h.liveAllocs(s.job.Namespace, s.job.ID).map((a) => a.ID)).toEqual([repl.ID]);

    const s2 = setup({ Replace: false });
    await disconnectIsland(s2);
    reconnectIsland(s2, failed);
    await s2.h.process(reconnectEval(s2));
    const placed = flattenPlanned(s2.h.lastPlan()!.NodeAllocation).filter((a) => a.ID !== s2.original.ID);
    expect(placed.map((a) => [a.Name, a.PreviousAllocation])).toEqual([[s2.original.Name, s2.original.ID]]);
  });

  it('marks a reconnecting alloc lost when its client comes back after lost_after', async () => {
    const s = setup({ Reconcile: 'keep_original' });
    await disconnectIsland(s);
    const repl = reconnectIsland(s);
    s.now.ms = T0 + 60_000;
    await s.h.process(reconnectEval(s));
    expect(stopped(s).map((a) => [a.ID, a.ClientStatus])).toEqual([[s.original.ID, 'lost']]);
    expect(s.h.liveAllocs(s.job.Namespace, s.job.ID).map((a) => a.ID)).toEqual([repl.ID]);
  });
});

describe('lost allocations whose client stops them itself (stop_on_client_after)', () => {
  it('marks the alloc lost at once but places its replacement only once the client has stopped it', async () => {
    const s = setup({ StopOnClientAfter: 10 * NS_PER_S, LostAfter: 0 });
    s.h.upsertNode({ ...s.island, Status: 'down', StatusUpdatedAt: T0 / 1000 });
    await s.h.process(build.eval({ Job: s.job, TriggeredBy: 'node-update', NodeID: s.island.ID }));
    const plan = s.h.lastPlan()!;
    expect(plan.NodeUpdate[s.island.ID]?.map((a) => [a.ID, a.ClientStatus])).toEqual([[s.original.ID, 'lost']]);
    expect(flattenPlanned(plan.NodeAllocation)).toHaveLength(0);
    const later = s.h.createdEvals.find((e) => e.ID === s.h.allocByID(s.original.ID)!.FollowupEvalID)!;
    // stop_on_client_after (10 s) plus the default kill_timeout (5 s), from when the node went down.
    expect(later.WaitUntil).toBe(new Date(T0 + 15_000).toISOString());

    s.now.ms = T0 + 5_000;
    const plans = s.h.plans.length;
    await s.h.process(build.eval({ Job: s.job }));
    expect(s.h.plans.length).toBe(plans);

    s.now.ms = T0 + 15_000;
    await s.h.process(later);
    const placed = flattenPlanned(s.h.lastPlan()!.NodeAllocation);
    expect(placed.map((a) => [a.Name, a.NodeID !== s.island.ID])).toEqual([[s.original.Name, true]]);
  });

  it('replaces at once when the group has no stop_on_client_after', async () => {
    const s = setup(null);
    s.h.upsertNode({ ...s.island, Status: 'down', StatusUpdatedAt: T0 / 1000 });
    await s.h.process(build.eval({ Job: s.job, TriggeredBy: 'node-update', NodeID: s.island.ID }));
    expect(flattenPlanned(s.h.lastPlan()!.NodeAllocation)).toHaveLength(1);
  });
});
