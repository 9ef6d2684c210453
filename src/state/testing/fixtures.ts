/** Small, fully populated rows for state and server tests. */
import type { Allocation, Evaluation, Job, Node } from '../../structs/index.js';
import { generateUUID, newAllocation, newJobEvaluation } from '../../structs/index.js';

export function mockJob(id = 'web', over: Partial<Job> = {}): Job {
  return {
    Region: 'global',
    Namespace: 'default',
    ID: id,
    Name: id,
    Type: 'service',
    Priority: 50,
    Datacenters: ['dc1'],
    TaskGroups: [
      {
        Name: 'web',
        Count: 1,
        Tasks: [{ Name: 'srv', Driver: 'mock', Config: { run_for: '10s' }, Resources: { CPU: 100, MemoryMB: 64 } }],
      },
    ],
    ...over,
  };
}

export function mockNode(id = generateUUID(), over: Partial<Node> = {}): Node {
  return {
    ID: id,
    Datacenter: 'dc1',
    Name: `node-${id.slice(0, 4)}`,
    HTTPAddr: '127.0.0.1:4646',
    TLSEnabled: false,
    Attributes: { 'kernel.name': 'linux', 'driver.mock': '1', 'unique.network.ip-address': '127.0.0.1' },
    NodeResources: {
      Cpu: { CpuShares: 4000, TotalCpuCores: 4 },
      Memory: { MemoryMB: 8192 },
      Disk: { DiskMB: 100_000 },
      Networks: [
        { Mode: 'host', Device: 'lo', CIDR: '127.0.0.1/32', IP: '127.0.0.1', ReservedPorts: null, DynamicPorts: null },
      ],
      MinDynamicPort: 20000,
      MaxDynamicPort: 32000,
    },
    ReservedResources: {
      Cpu: { CpuShares: 0 },
      Memory: { MemoryMB: 0 },
      Disk: { DiskMB: 0 },
      Networks: { ReservedHostPorts: '' },
    },
    Links: null,
    Meta: {},
    NodeClass: '',
    NodePool: 'default',
    DrainStrategy: null,
    SchedulingEligibility: 'eligible',
    Status: 'ready',
    StatusDescription: '',
    StatusUpdatedAt: 0,
    Events: null,
    Drivers: { mock: { Attributes: null, Detected: true, Healthy: true, HealthDescription: '', UpdateTime: '' } },
    HostVolumes: null,
    CreateIndex: 0,
    ModifyIndex: 0,
    ...over,
  };
}

export function mockAlloc(job: Job, nodeID: string, over: Partial<Allocation> = {}): Allocation {
  const tg = job.TaskGroups[0]!;
  const task = tg.Tasks[0]!;
  return newAllocation(
    {
      ID: generateUUID(),
      EvalID: generateUUID(),
      Name: `${job.ID}.${tg.Name}[0]`,
      NodeID: nodeID,
      NodeName: 'node',
      Job: job,
      TaskGroup: tg.Name,
      AllocatedResources: {
        Tasks: {
          [task.Name]: {
            Cpu: { CpuShares: task.Resources.CPU },
            Memory: { MemoryMB: task.Resources.MemoryMB, MemoryMaxMB: 0 },
            Networks: null,
          },
        },
        Shared: { DiskMB: 0, Networks: null, Ports: null },
      },
    },
    0,
    over,
  );
}

export function mockEval(job: Job, over: Partial<Evaluation> = {}): Evaluation {
  return newJobEvaluation(job, 'job-register', 0, over);
}
