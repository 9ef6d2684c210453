/**
 * The rows the client tests run, as presets over src/testing's builders: a job "example" whose group "web" asks
 * for one dynamic "http" port, tasks with a 2 s kill timeout (so stop paths stay short), and allocations placed
 * by the test with that port at 23456+index on 127.0.0.1.
 */
import type { Allocation, Job, Task } from '../../structs/index.js';
import { allocName } from '../../structs/index.js';
import { build } from '../../testing/builders.js';

/** A job with one group "web" of the given tasks. */
export function testJob(tasks: Task[], over: Partial<Job> = {}): Job {
  return build.job({
    ID: 'example',
    Meta: { owner: 'team-a' },
    TaskGroups: [
      build.taskGroup({
        Tasks: tasks,
        Networks: [build.dynamicPorts('http')],
      }),
    ],
    Version: 0,
    ...over,
  });
}

export function testTask(
  name: string,
  driver: string,
  config: Record<string, unknown>,
  over: Partial<Task> = {},
): Task {
  return build.task({ Name: name, Driver: driver, Config: config, KillTimeout: 2e9, ...over });
}

/** Allocation `index` of `job`'s group "web" on `nodeID`, created now, at index 1. */
export function testAlloc(job: Job, nodeID: string, index = 0): Allocation {
  const nowNs = Date.now() * 1e6;
  const base = build.alloc({ Job: job, TaskGroup: 'web' });
  return build.alloc({
    Job: job,
    Name: allocName(job.ID, 'web', index),
    NodeID: nodeID,
    NodeName: 'test',
    TaskGroup: 'web',
    Namespace: 'default',
    AllocatedResources: {
      Tasks: base.AllocatedResources.Tasks,
      Shared: {
        DiskMB: 0,
        Networks: null,
        Ports: [{ Label: 'http', Value: 23456 + index, To: 0, HostIP: '127.0.0.1' }],
      },
    },
    CreateIndex: 1,
    ModifyIndex: 1,
    AllocModifyIndex: 1,
    CreateTime: nowNs,
    ModifyTime: nowNs,
  });
}
