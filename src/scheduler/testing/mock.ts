/**
 * Fully populated mock nodes, jobs, allocations and evals matching Nomad's mock fixtures (as described
 * in ../shared/conformance/nomad/scheduler-scenarios.md), so scheduler, server and benchmark tests
 * stay short. Every builder returns a fresh object; pass overrides or mutate the result.
 */
import type { Allocation, Evaluation, Job, Node, Task, TaskGroup } from '../../structs/index.js';
import {
  EvalTriggerJobRegister,
  NS_PER_S,
  allocName,
  generateUUID,
  newAllocation,
  newJobEvaluation,
} from '../../structs/index.js';

const min = 60 * NS_PER_S;

export function mockNode(overrides: Partial<Node> = {}): Node {
  const id = overrides.ID ?? generateUUID();
  return {
    ID: id,
    SecretID: generateUUID(),
    Datacenter: 'dc1',
    Name: `foobar-${id.slice(0, 8)}`,
    HTTPAddr: '127.0.0.1:4646',
    TLSEnabled: false,
    Attributes: {
      'kernel.name': 'linux',
      arch: 'x86',
      'nomad.version': '1.10.0',
      'driver.exec': '1',
      'driver.mock_driver': '1',
      'consul.version': '1.11.4',
      'unique.network.ip-address': '192.168.0.100',
    },
    NodeResources: {
      Cpu: { CpuShares: 14000, TotalCpuCores: 4 },
      Memory: { MemoryMB: 8192 },
      Disk: { DiskMB: 100 * 1024 },
      Networks: [
        {
          Mode: 'host',
          Device: 'eth0',
          CIDR: '192.168.0.100/32',
          IP: '192.168.0.100',
          MBits: 1000,
          ReservedPorts: null,
          DynamicPorts: null,
        },
      ],
      MinDynamicPort: 20000,
      MaxDynamicPort: 32000,
    },
    ReservedResources: {
      Cpu: { CpuShares: 100 },
      Memory: { MemoryMB: 256 },
      Disk: { DiskMB: 4 * 1024 },
      Networks: { ReservedHostPorts: '22' },
    },
    Links: { consul: 'foobar.dc1' },
    Meta: { 'pci-dss': 'true', database: 'mysql', version: '5.6' },
    NodeClass: 'linux-medium-pci',
    NodePool: 'default',
    DrainStrategy: null,
    SchedulingEligibility: 'eligible',
    Status: 'ready',
    StatusDescription: '',
    StatusUpdatedAt: 0,
    Events: null,
    Drivers: {
      exec: { Attributes: null, Detected: true, Healthy: true, HealthDescription: '', UpdateTime: '' },
      mock_driver: { Attributes: null, Detected: true, Healthy: true, HealthDescription: '', UpdateTime: '' },
    },
    HostVolumes: null,
    CreateIndex: 0,
    ModifyIndex: 0,
    ...overrides,
  };
}

function mockTask(): Task {
  return {
    Name: 'web',
    Driver: 'exec',
    Config: { command: '/bin/date' },
    Env: { FOO: 'bar' },
    Services: [
      { Name: '${TASK}-frontend', PortLabel: 'http', Tags: ['pci:${meta.pci-dss}', 'datacenter:${node.datacenter}'] },
      { Name: '${TASK}-admin', PortLabel: 'admin' },
    ],
    Resources: { CPU: 500, MemoryMB: 256 },
    Meta: { foo: 'bar' },
    LogConfig: { MaxFiles: 10, MaxFileSizeMB: 10 },
  };
}

function mockGroup(): TaskGroup {
  return {
    Name: 'web',
    Count: 10,
    Constraints: [{ LTarget: '${attr.consul.version}', RTarget: '>= 1.8.0', Operand: 'semver' }],
    EphemeralDisk: { Sticky: false, SizeMB: 150, Migrate: false },
    RestartPolicy: { Attempts: 3, Interval: 10 * min, Delay: min, Mode: 'delay' },
    ReschedulePolicy: {
      Attempts: 2,
      Interval: 10 * min,
      Delay: 5 * NS_PER_S,
      DelayFunction: 'constant',
      MaxDelay: 0,
      Unlimited: false,
    },
    Networks: [
      {
        Mode: 'host',
        Device: '',
        CIDR: '',
        IP: '',
        ReservedPorts: null,
        DynamicPorts: [
          { Label: 'http', Value: 0, To: 0, HostNetwork: 'default' },
          { Label: 'admin', Value: 0, To: 0, HostNetwork: 'default' },
        ],
      },
    ],
    Tasks: [mockTask()],
    Meta: { elb_check_type: 'http', elb_check_interval: '30s', elb_check_min: '3' },
  };
}

export function mockJob(overrides: Partial<Job> = {}): Job {
  const id = overrides.ID ?? `mock-service-${generateUUID()}`;
  return {
    Region: 'global',
    Namespace: 'default',
    ID: id,
    Name: 'my-job',
    Type: 'service',
    Priority: 50,
    AllAtOnce: false,
    Datacenters: ['dc1'],
    NodePool: 'default',
    Constraints: [{ LTarget: '${attr.kernel.name}', RTarget: 'linux', Operand: '=' }],
    TaskGroups: [mockGroup()],
    Meta: { owner: 'armon' },
    Status: 'pending',
    Version: 0,
    CreateIndex: 42,
    ModifyIndex: 99,
    JobModifyIndex: 99,
    ...overrides,
  };
}

// mockJob builds exactly one task group with one task: the `[0]!` below read that.
export function mockBatchJob(overrides: Partial<Job> = {}): Job {
  const job = mockJob({ ID: `mock-batch-${generateUUID()}`, Type: 'batch', ...overrides });
  const tg = job.TaskGroups[0]!;
  tg.ReschedulePolicy = {
    Attempts: 2,
    Interval: 10 * min,
    Delay: 5 * NS_PER_S,
    DelayFunction: 'constant',
    MaxDelay: 0,
    Unlimited: false,
  };
  return job;
}

export function mockSystemJob(overrides: Partial<Job> = {}): Job {
  const job = mockJob({ ID: `mock-system-${generateUUID()}`, Type: 'system', Priority: 100, ...overrides });
  const tg = job.TaskGroups[0]!;
  tg.Count = 1;
  tg.ReschedulePolicy = null;
  return job;
}

/** An allocation of `job` on `node`, with resources as the job's group asks (ports 5000+index*2). */
export function mockAlloc(job: Job, node: Node, index = 0, overrides: Partial<Allocation> = {}): Allocation {
  const tg = job.TaskGroups[0]!;
  const tasks: Allocation['AllocatedResources']['Tasks'] = {};
  for (const t of tg.Tasks) {
    tasks[t.Name] = {
      Cpu: { CpuShares: t.Resources.CPU },
      Memory: { MemoryMB: t.Resources.MemoryMB, MemoryMaxMB: 0 },
      Networks: null,
    };
  }
  const base = 20000 + ((index * 2) % 10000);
  return newAllocation(
    {
      ID: generateUUID(),
      EvalID: generateUUID(),
      Name: allocName(job.ID, tg.Name, index),
      NodeID: node.ID,
      NodeName: node.Name,
      Job: job,
      TaskGroup: tg.Name,
      AllocatedResources: {
        Tasks: tasks,
        Shared: {
          DiskMB: tg.EphemeralDisk?.SizeMB ?? 0,
          Networks: [
            {
              Mode: 'host',
              Device: 'eth0',
              CIDR: '',
              IP: '192.168.0.100',
              ReservedPorts: null,
              DynamicPorts: [
                { Label: 'http', Value: base, To: 0, HostNetwork: 'default' },
                { Label: 'admin', Value: base + 1, To: 0, HostNetwork: 'default' },
              ],
            },
          ],
          Ports: [
            { Label: 'http', Value: base, To: 0, HostIP: '192.168.0.100' },
            { Label: 'admin', Value: base + 1, To: 0, HostIP: '192.168.0.100' },
          ],
        },
      },
    },
    0,
    overrides,
  );
}

export function mockEval(job: Job, overrides: Partial<Evaluation> = {}): Evaluation {
  return newJobEvaluation(job, EvalTriggerJobRegister, 0, overrides);
}
