/**
 * Nomad's fully populated mock fixtures (`mock.Node()`, `mock.Job()`, `mock.BatchJob()`, `mock.SystemJob()`,
 * `mock.Alloc()` as ../shared/conformance/nomad/scheduler-scenarios.md describes them), written as overrides over
 * `build`, so the scheduler's conformance scenarios, its benchmarks and the server tests that borrow them start
 * from the same rows Nomad's tests do. Every call returns a fresh object; pass overrides or mutate the result.
 */
import type { Allocation, Job, Node, Task, TaskGroup } from '../structs/index.js';
import { NS_PER_S, allocName, generateUUID } from '../structs/index.js';
import { build } from './builders.js';

const min = 60 * NS_PER_S;

const driver = { Attributes: null, Detected: true, Healthy: true, HealthDescription: '', UpdateTime: '' };

function node(overrides: Partial<Node> = {}): Node {
  const id = overrides.ID ?? generateUUID();
  return build.node({
    ID: id,
    SecretID: generateUUID(),
    Name: `foobar-${id.slice(0, 8)}`,
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
    Drivers: { exec: driver, mock_driver: { ...driver } },
    ...overrides,
  });
}

function task(): Task {
  return build.task({
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
  });
}

const reschedulePolicy = (): NonNullable<TaskGroup['ReschedulePolicy']> => ({
  Attempts: 2,
  Interval: 10 * min,
  Delay: 5 * NS_PER_S,
  DelayFunction: 'constant',
  MaxDelay: 0,
  Unlimited: false,
});

function group(): TaskGroup {
  return build.taskGroup({
    Name: 'web',
    Count: 10,
    Constraints: [{ LTarget: '${attr.consul.version}', RTarget: '>= 1.8.0', Operand: 'semver' }],
    EphemeralDisk: { Sticky: false, SizeMB: 150, Migrate: false },
    RestartPolicy: { Attempts: 3, Interval: 10 * min, Delay: min, Mode: 'delay' },
    ReschedulePolicy: reschedulePolicy(),
    Networks: [build.dynamicPorts('http', 'admin')],
    Tasks: [task()],
    Meta: { elb_check_type: 'http', elb_check_interval: '30s', elb_check_min: '3' },
  });
}

function job(overrides: Partial<Job> = {}): Job {
  return build.job({
    ID: `mock-service-${generateUUID()}`,
    Name: 'my-job',
    AllAtOnce: false,
    NodePool: 'default',
    Constraints: [{ LTarget: '${attr.kernel.name}', RTarget: 'linux', Operand: '=' }],
    TaskGroups: [group()],
    Meta: { owner: 'armon' },
    Status: 'pending',
    Version: 0,
    CreateIndex: 42,
    ModifyIndex: 99,
    JobModifyIndex: 99,
    ...overrides,
  });
}

// job() builds exactly one task group with one task: the `[0]!` below read that.
function batchJob(overrides: Partial<Job> = {}): Job {
  const j = job({ ID: `mock-batch-${generateUUID()}`, Type: 'batch', ...overrides });
  j.TaskGroups[0]!.ReschedulePolicy = reschedulePolicy();
  return j;
}

function systemJob(overrides: Partial<Job> = {}): Job {
  const j = job({ ID: `mock-system-${generateUUID()}`, Type: 'system', Priority: 100, ...overrides });
  const tg = j.TaskGroups[0]!;
  tg.Count = 1;
  tg.ReschedulePolicy = null;
  return j;
}

/** An allocation of `job` on `node` number `index`, resources as the job's group asks (ports 20000+index*2). */
function alloc(job: Job, node: Node, index = 0, overrides: Partial<Allocation> = {}): Allocation {
  const tg = job.TaskGroups[0]!;
  const base = 20000 + ((index * 2) % 10000);
  const ip = '192.168.0.100';
  return build.alloc({
    Name: allocName(job.ID, tg.Name, index),
    NodeID: node.ID,
    NodeName: node.Name,
    Job: job,
    TaskGroup: tg.Name,
    AllocatedResources: {
      Tasks: build.alloc({ Job: job }).AllocatedResources.Tasks,
      Shared: {
        DiskMB: tg.EphemeralDisk?.SizeMB ?? 0,
        Networks: [
          {
            Mode: 'host',
            Device: 'eth0',
            CIDR: '',
            IP: ip,
            ReservedPorts: null,
            DynamicPorts: [
              { Label: 'http', Value: base, To: 0, HostNetwork: 'default' },
              { Label: 'admin', Value: base + 1, To: 0, HostNetwork: 'default' },
            ],
          },
        ],
        Ports: [
          { Label: 'http', Value: base, To: 0, HostIP: ip },
          { Label: 'admin', Value: base + 1, To: 0, HostIP: ip },
        ],
      },
    },
    ...overrides,
  });
}

export const nomadMock = { node, job, batchJob, systemJob, alloc };
