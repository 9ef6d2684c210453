/**
 * A small stand-in scheduler for the server's tests (the real one lives in src/scheduler). It places
 * each group's missing instances first-fit on ready nodes, stops what the job no longer wants,
 * replaces allocations lost with their node or failed, replaces them all when the job spec changed,
 * and leaves a blocked eval when something does not fit. Enough to drive the server end to end.
 */
import {
  allocName,
  allocTerminalStatus,
  generateUUID,
  newAllocation,
  newPlan,
  nodeSchedulable,
  NodeStatusDown,
  type Allocation,
  type DesiredUpdates,
  type Evaluation,
  type Job,
  type Node,
  type TaskGroup,
  newDesiredUpdates,
} from '../../structs/index.js';
import type { Planner, Scheduler, SchedulerState } from '../../scheduler/types.js';
import { allocsFit, computeNodeClass } from '../../scheduler/index.js';
import type { NewSchedulerFn } from '../worker.js';

function newAlloc(job: Job, tg: TaskGroup, index: number, node: Node, ev: Evaluation): Allocation {
  const tasks: Allocation['AllocatedResources']['Tasks'] = {};
  for (const t of tg.Tasks)
    tasks[t.Name] = {
      Cpu: { CpuShares: t.Resources.CPU },
      Memory: { MemoryMB: t.Resources.MemoryMB, MemoryMaxMB: 0 },
      Networks: t.Resources.Networks ?? null,
    };
  return newAllocation(
    {
      ID: generateUUID(),
      EvalID: ev.ID,
      Name: allocName(job.ID, tg.Name, index),
      NodeID: node.ID,
      NodeName: node.Name,
      Job: job,
      TaskGroup: tg.Name,
      AllocatedResources: {
        Tasks: tasks,
        Shared: { DiskMB: tg.EphemeralDisk?.SizeMB ?? 0, Networks: tg.Networks ?? null, Ports: null },
      },
    },
    0,
  );
}

export class FakeScheduler implements Scheduler {
  constructor(
    private state: SchedulerState,
    private readonly planner: Planner,
  ) {}

  async process(ev: Evaluation): Promise<void> {
    const job = this.state.jobByID(ev.Namespace, ev.JobID);
    const plan = newPlan(ev.ID, ev.Priority, job ?? null, this.state.index());
    const desired: Record<string, DesiredUpdates> = {};
    const queued: Record<string, number> = {};
    const failed: Evaluation['FailedTGAllocs'] = {};
    const stop = (a: Allocation, why: string, client = '') =>
      (plan.NodeUpdate[a.NodeID] ??= []).push({
        ...a,
        DesiredStatus: 'stop',
        DesiredDescription: why,
        ClientStatus: client,
      });
    const live = this.state
      .allocsByJob(ev.Namespace, ev.JobID)
      .filter((a) => !allocTerminalStatus(a) || (a.ClientStatus === 'failed' && a.DesiredStatus === 'run'));
    const planned = new Map<string, Allocation[]>();
    const nodes = [...this.state.nodes()].filter(nodeSchedulable);
    for (const tg of job?.Stop || job == null ? [] : job.TaskGroups) {
      const u = (desired[tg.Name] = newDesiredUpdates());
      const keep: Allocation[] = [];
      for (const a of live.filter((x) => x.TaskGroup === tg.Name)) {
        const node = this.state.nodeByID(a.NodeID);
        if (node == null || node.Status === NodeStatusDown) stop(a, 'alloc is lost since its node is down', 'lost');
        else if (a.ClientStatus === 'failed') stop(a, 'alloc was rescheduled because it failed');
        else if ((a.Job.JobModifyIndex ?? 0) !== (job!.JobModifyIndex ?? 0)) {
          stop(a, 'alloc is being updated due to job update');
          u.DestructiveUpdate++;
          continue;
        } else if (keep.length >= tg.Count) {
          stop(a, 'alloc not needed due to job update');
          u.Stop++;
          continue;
        } else {
          keep.push(a);
          u.Ignore++;
          continue;
        }
      }
      const used = new Set(keep.map((a) => a.Name));
      let missing = tg.Count - keep.length;
      let index = 0;
      while (missing > 0) {
        while (used.has(allocName(job!.ID, tg.Name, index))) index++;
        const node = nodes.find((n) => {
          const mine = [...this.state.allocsByNode(n.ID), ...(planned.get(n.ID) ?? [])].filter(
            (a) => !(plan.NodeUpdate[n.ID] ?? []).some((s) => s.ID === a.ID),
          );
          return allocsFit(n, [...mine, newAlloc(job!, tg, index, n, ev)]).fit;
        });
        if (node == null) break;
        const a = newAlloc(job!, tg, index, node, ev);
        used.add(a.Name);
        (planned.get(node.ID) ?? planned.set(node.ID, []).get(node.ID)!).push(a);
        (plan.NodeAllocation[node.ID] ??= []).push(a);
        if (u.DestructiveUpdate === 0) u.Place++;
        missing--;
      }
      queued[tg.Name] = missing;
      if (missing > 0) {
        failed[tg.Name] = {
          NodesEvaluated: nodes.length,
          NodesFiltered: 0,
          NodesInPool: nodes.length,
          NodesAvailable: { dc1: nodes.length },
          ClassFiltered: null,
          ConstraintFiltered: null,
          NodesExhausted: nodes.length,
          ClassExhausted: null,
          DimensionExhausted: { cpu: nodes.length },
          QuotaExhausted: null,
          ScoreMetaData: null,
          AllocationTime: 0,
          CoalescedFailures: missing - 1,
        };
      }
    }
    for (const a of job == null || job.Stop ? live : []) stop(a, 'alloc not needed since job was stopped');
    if (ev.AnnotatePlan) plan.Annotations = { DesiredTGUpdates: desired };
    const { result, state } = await this.planner.submitPlan(plan);
    if (state) this.state = state;
    if (result.RefreshIndex !== 0) throw new Error('plan partially rejected; retry the eval');
    let blockedID = '';
    if (Object.keys(failed).length > 0) {
      const classes: Record<string, boolean> = {};
      for (const n of this.state.nodes()) classes[n.ComputedClass ?? computeNodeClass(n)] = true;
      const blocked: Evaluation = {
        ...ev,
        ID: generateUUID(),
        Status: 'blocked',
        TriggeredBy: 'queued-allocs',
        PreviousEval: ev.ID,
        ClassEligibility: classes,
        FailedTGAllocs: null,
        SnapshotIndex: this.state.index(),
        StatusDescription: 'created to place remaining allocations',
        AnnotatePlan: false,
      };
      blockedID = blocked.ID;
      await this.planner.createEval(blocked);
    }
    await this.planner.updateEval({
      ...ev,
      Status: 'complete',
      BlockedEval: blockedID,
      QueuedAllocations: queued,
      FailedTGAllocs: Object.keys(failed).length > 0 ? failed : null,
    });
  }
}

export const newFakeScheduler: NewSchedulerFn = (_type, state, planner) => new FakeScheduler(state, planner);
