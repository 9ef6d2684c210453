/**
 * Presets for the CLI tests over src/testing's builders, with fixed IDs and times (relative to NOW_MS) so the
 * views' golden output stays stable; the list stubs (jobStub, allocStub, nodeStub) and a metric are the CLI's own.
 */
import type {
  AllocListStub,
  AllocMetric,
  Allocation,
  Evaluation,
  Job,
  JobListStub,
  Node,
  NodeListStub,
} from '../../structs/index.js';
import { build } from '../../testing/builders.js';

export const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);
export const msAgo = (ms: number) => (NOW_MS - ms) * 1_000_000;

export function evaluation(p: Partial<Evaluation> = {}): Evaluation {
  const job = { Namespace: 'default', ID: 'web', Priority: 50, Type: 'service', JobModifyIndex: 10 };
  return build.eval({
    Job: job,
    ID: 'e1e1e1e1-0000-4000-8000-000000000001',
    CreateIndex: 10,
    ModifyIndex: 10,
    CreateTime: msAgo(60_000),
    ModifyTime: msAgo(60_000),
    ...p,
  });
}

export function metric(p: Partial<AllocMetric> = {}): AllocMetric {
  return {
    NodesEvaluated: 1,
    NodesFiltered: 0,
    NodesInPool: 1,
    NodesAvailable: { dc1: 1 },
    ClassFiltered: null,
    ConstraintFiltered: null,
    NodesExhausted: 0,
    ClassExhausted: null,
    DimensionExhausted: null,
    QuotaExhausted: null,
    ScoreMetaData: null,
    AllocationTime: 0,
    CoalescedFailures: 0,
    ...p,
  };
}

export function job(p: Partial<Job> = {}): Job {
  const task = build.task({ Driver: 'raw_exec', Config: { command: '/bin/sleep' } });
  return build.job({
    NodePool: 'default',
    Status: 'running',
    Version: 0,
    SubmitTime: msAgo(120_000),
    TaskGroups: [
      build.taskGroup({
        Networks: [build.dynamicPorts('http')],
        Tasks: [task],
      }),
    ],
    CreateIndex: 10,
    ModifyIndex: 10,
    JobModifyIndex: 10,
    ...p,
  });
}

export function jobStub(p: Partial<JobListStub> = {}): JobListStub {
  return {
    ID: 'web',
    ParentID: '',
    Name: 'web',
    Namespace: 'default',
    Datacenters: ['dc1'],
    NodePool: 'default',
    Multiregion: null,
    Type: 'service',
    Priority: 50,
    Periodic: false,
    ParameterizedJob: false,
    Stop: false,
    Status: 'running',
    StatusDescription: '',
    JobSummary: null,
    CreateIndex: 10,
    ModifyIndex: 10,
    JobModifyIndex: 10,
    SubmitTime: msAgo(120_000),
    Version: 0,
    ...p,
  };
}

export function allocStub(p: Partial<AllocListStub> = {}): AllocListStub {
  return {
    ID: 'a1a1a1a1-0000-4000-8000-000000000001',
    EvalID: 'e1e1e1e1-0000-4000-8000-000000000001',
    Name: 'web.web[0]',
    Namespace: 'default',
    NodeID: 'n1n1n1n1-0000-4000-8000-000000000001',
    NodeName: 'node1',
    JobID: 'web',
    JobType: 'service',
    JobVersion: 0,
    TaskGroup: 'web',
    DesiredStatus: 'run',
    DesiredDescription: '',
    ClientStatus: 'running',
    ClientDescription: 'Tasks are running',
    DesiredTransition: {},
    TaskStates: null,
    DeploymentStatus: null,
    FollowupEvalID: '',
    NextAllocation: '',
    RescheduleTracker: null,
    PreemptedAllocations: null,
    PreemptedByAllocation: '',
    CreateIndex: 11,
    ModifyIndex: 12,
    CreateTime: msAgo(60_000),
    ModifyTime: msAgo(30_000),
    ...p,
  };
}

export function allocation(p: Partial<Allocation> = {}): Allocation {
  const s = allocStub();
  return build.alloc({
    ID: s.ID,
    EvalID: s.EvalID,
    Name: s.Name,
    NodeID: s.NodeID,
    NodeName: 'node1',
    Job: job(),
    TaskGroup: 'web',
    AllocatedResources: {
      Tasks: { srv: { Cpu: { CpuShares: 100 }, Memory: { MemoryMB: 64, MemoryMaxMB: 0 } } },
      Shared: { DiskMB: 300, Networks: null, Ports: [{ Label: 'http', Value: 23456, To: 0, HostIP: '127.0.0.1' }] },
    },
    Namespace: 'default',
    JobID: 'web',
    Metrics: metric(),
    ClientStatus: 'running',
    ClientDescription: 'Tasks are running',
    TaskStates: {
      srv: {
        State: 'running',
        Failed: false,
        Restarts: 1,
        LastRestart: '2026-11-21T11:59:30Z',
        StartedAt: '2026-11-21T11:59:31Z',
        FinishedAt: null,
        Events: [
          { Type: 'Received', Time: msAgo(60_000), DisplayMessage: 'Task received by client', Details: {} },
          { Type: 'Started', Time: msAgo(59_000), DisplayMessage: 'Task started by client', Details: {} },
          { Type: 'Terminated', Time: msAgo(31_000), DisplayMessage: '', Details: {}, ExitCode: 137, Signal: 9 },
        ],
      },
    },
    CreateIndex: 11,
    ModifyIndex: 12,
    AllocModifyIndex: 11,
    CreateTime: msAgo(60_000),
    ModifyTime: msAgo(30_000),
    ...p,
  });
}

export function nodeStub(p: Partial<NodeListStub> = {}): NodeListStub {
  return {
    Address: '127.0.0.1',
    ID: 'n1n1n1n1-0000-4000-8000-000000000001',
    Datacenter: 'dc1',
    Name: 'node1',
    NodeClass: '',
    NodePool: 'default',
    Version: '0.1.0',
    Drain: false,
    SchedulingEligibility: 'eligible',
    Status: 'ready',
    StatusDescription: '',
    Drivers: {},
    CreateIndex: 5,
    ModifyIndex: 5,
    ...p,
  };
}

export function node(p: Partial<Node> = {}): Node {
  const driver = { Attributes: null, HealthDescription: '', UpdateTime: '' };
  return build.node({
    ID: 'n1n1n1n1-0000-4000-8000-000000000001',
    Name: 'node1',
    Attributes: { 'kernel.name': 'linux' },
    NodeResources: {
      Cpu: { CpuShares: 4000, TotalCpuCores: 4 },
      Memory: { MemoryMB: 8192 },
      Disk: { DiskMB: 10240 },
      Networks: null,
      MinDynamicPort: 20000,
      MaxDynamicPort: 32000,
    },
    Drivers: {
      raw_exec: { ...driver, Detected: true, Healthy: true },
      docker: { ...driver, Detected: false, Healthy: false },
    },
    CreateIndex: 5,
    ModifyIndex: 5,
    ...p,
  });
}
