/**
 * The one set of test builders every module's tests use: `build.node`, `build.job`, `build.taskGroup`,
 * `build.task`, `build.alloc`, `build.eval`, `build.deployment`. Each takes partial overrides and returns a fresh,
 * fully typed row with small defaults (one group "web" of one mock-driver task "srv", a ready linux node with the
 * mock driver), so a test states only what it is about.
 *
 * Why a namespace object rather than bare functions: tests name their locals `job`, `node`, `alloc`, and `eval` is
 * not a legal binding name; `build.job(...)` reads as what it is and never shadows.
 *
 * Flavours that need other defaults (Nomad's fully populated mock fixtures for the scheduler conformance
 * scenarios, fixed IDs and clocks for the CLI's golden output) are presets in `nomad-mock.ts` and in the module's
 * own `testing/`, written as overrides over these builders, not as copies of the row shapes.
 */
import type {
  Allocation,
  Deployment,
  DeploymentState,
  Evaluation,
  Job,
  NetworkResource,
  Node,
  Task,
  TaskGroup,
  UpdateStrategy,
} from '../structs/index.js';
import { allocName, generateUUID, newAllocation, newJobEvaluation, newTaskState } from '../structs/index.js';

/** What `build.eval` needs of a job (a full `Job` fits). */
type EvalJob = Pick<Job, 'Namespace' | 'ID' | 'Priority' | 'Type' | 'JobModifyIndex'>;

function task(over: Partial<Task> = {}): Task {
  return {
    Name: 'srv',
    Driver: 'mock',
    Config: { run_for: '10s' },
    Resources: { CPU: 100, MemoryMB: 64 },
    ...over,
  };
}

function taskGroup(over: Partial<TaskGroup> = {}): TaskGroup {
  return { Name: 'web', Count: 1, Tasks: [task()], ...over };
}

/** A service job; `Name` follows `ID` unless given. */
function job(over: Partial<Job> = {}): Job {
  const id = over.ID ?? 'web';
  return {
    Region: 'global',
    Namespace: 'default',
    ID: id,
    Name: id,
    Type: 'service',
    Priority: 50,
    Datacenters: ['dc1'],
    TaskGroups: [taskGroup()],
    ...over,
  };
}

/** A ready, eligible linux node with the mock driver, a fresh UUID and 4 GHz / 8 GiB; `Name` follows `ID`. */
function node(over: Partial<Node> = {}): Node {
  const id = over.ID ?? generateUUID();
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

/**
 * An allocation of `over.Job` (default `build.job()`) for its group `over.TaskGroup` (default the first), index 0,
 * with each task's resources as the group asks and no ports. Pass `Job`, `NodeID` and anything else to override.
 */
function alloc(over: Partial<Allocation> = {}): Allocation {
  const j = over.Job ?? job();
  const tg = j.TaskGroups.find((g) => g.Name === over.TaskGroup) ?? j.TaskGroups[0];
  if (!tg) throw new Error(`build.alloc: job ${j.ID} has no task group`);
  const tasks: Allocation['AllocatedResources']['Tasks'] = {};
  for (const t of tg.Tasks) {
    tasks[t.Name] = {
      Cpu: { CpuShares: t.Resources.CPU },
      Memory: { MemoryMB: t.Resources.MemoryMB, MemoryMaxMB: 0 },
      Networks: null,
    };
  }
  return newAllocation(
    {
      ID: generateUUID(),
      EvalID: generateUUID(),
      Name: allocName(j.ID, tg.Name, 0),
      NodeID: generateUUID(),
      NodeName: 'node',
      Job: j,
      TaskGroup: tg.Name,
      AllocatedResources: { Tasks: tasks, Shared: { DiskMB: 0, Networks: null, Ports: null } },
    },
    0,
    over,
  );
}

/** A pending job-register evaluation of `over.Job` (default `build.job()`); other fields override. */
function evaluation(over: Partial<Evaluation> & { Job?: EvalJob } = {}): Evaluation {
  const { Job: j = job(), ...fields } = over;
  return newJobEvaluation(j, 'job-register', 0, fields);
}

/** A running deployment of `over.JobID` (default "web") version 0, with `TaskGroups` as given (default none). */
function deployment(over: Partial<Deployment> = {}): Deployment {
  return {
    ID: generateUUID(),
    Namespace: 'default',
    JobID: 'web',
    JobVersion: 0,
    JobModifyIndex: 0,
    JobSpecModifyIndex: 0,
    JobCreateIndex: 0,
    IsMultiregion: false,
    TaskGroups: {},
    Status: 'running',
    StatusDescription: 'Deployment is running',
    CreateIndex: 0,
    ModifyIndex: 0,
    CreateTime: 0,
    ModifyTime: 0,
    ...over,
  };
}

/** One group's state in a deployment: `DesiredTotal` placements, nothing placed yet. */
function deploymentState(over: Partial<DeploymentState> = {}): DeploymentState {
  return {
    AutoRevert: false,
    AutoPromote: false,
    ProgressDeadline: 0,
    RequireProgressBy: null,
    Promoted: false,
    PlacedCanaries: null,
    DesiredCanaries: 0,
    DesiredTotal: 1,
    PlacedAllocs: 0,
    HealthyAllocs: 0,
    UnhealthyAllocs: 0,
    ...over,
  };
}

/**
 * A group's update block: one at a time, no stagger, health from checks, no deadlines, no canaries, no auto
 * revert or promote; a test names what its rollout is about.
 */
function update(over: Partial<UpdateStrategy> = {}): UpdateStrategy {
  return {
    Stagger: 0,
    MaxParallel: 1,
    HealthCheck: 'checks',
    MinHealthyTime: 0,
    HealthyDeadline: 0,
    ProgressDeadline: 0,
    AutoRevert: false,
    AutoPromote: false,
    Canary: 0,
    ...over,
  };
}

/** A group's host-mode network asking for one dynamic port per label (`build.dynamicPorts('http')`). */
function dynamicPorts(...labels: string[]): NetworkResource {
  return {
    Mode: 'host',
    Device: '',
    CIDR: '',
    IP: '',
    ReservedPorts: null,
    DynamicPorts: labels.map((Label) => ({ Label, Value: 0, To: 0, HostNetwork: 'default' })),
  };
}

export const build = {
  task,
  taskGroup,
  job,
  node,
  alloc,
  eval: evaluation,
  deployment,
  deploymentState,
  dynamicPorts,
  update,
  taskState: newTaskState,
};
