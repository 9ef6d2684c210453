import { describe, expect, it } from 'vitest';
import { buildTaskEnv } from './task-env.js';
import { testAlloc, testJob, testTask } from './testing/index.js';

const node = {
  ID: 'n-1',
  Name: 'node-1',
  Datacenter: 'dc1',
  NodeClass: '',
  NodePool: 'default',
  Attributes: {},
  Meta: {},
};
const dirs = {
  sharedAllocDir: '/d/a/alloc',
  dir: '/d/a/t',
  localDir: '/d/a/t/local',
  secretsDir: '/d/a/t/secrets',
  logDir: '/d/a/alloc/logs',
};

describe('task environment', () => {
  const job = testJob([
    testTask(
      't',
      'docker',
      {},
      { Env: { URL: 'http://${NOMAD_ADDR_http}/' }, Resources: { CPU: 100, MemoryMB: 64, MemoryMaxMB: 128 } },
    ),
  ]);
  const alloc = testAlloc(job, 'n-1');
  alloc.AllocatedResources.Shared.Ports = [{ Label: 'http', Value: 25000, To: 8080, HostIP: '10.0.0.5' }];
  alloc.AllocatedResources.Tasks.t!.Memory.MemoryMaxMB = 128;
  const input = {
    alloc,
    group: job.TaskGroups[0]!,
    task: job.TaskGroups[0]!.Tasks[0]!,
    node,
    region: 'global',
    dirs,
    hostEnv: { HOME: '/root', NOMAD_TOKEN: 'x' },
    advertiseIP: '127.0.0.1',
  };

  it('uses in-task paths for drivers with filesystem isolation and the mapped port inside the task', () => {
    const env = buildTaskEnv({ ...input, fsIsolation: 'image' });
    expect(env).toMatchObject({
      NOMAD_ALLOC_DIR: '/alloc',
      NOMAD_TASK_DIR: '/local',
      NOMAD_SECRETS_DIR: '/secrets',
      NOMAD_PORT_http: '8080',
      NOMAD_HOST_PORT_http: '25000',
      NOMAD_IP_http: '10.0.0.5',
      NOMAD_ADDR_http: '10.0.0.5:25000',
      NOMAD_MEMORY_MAX_LIMIT: '128',
      URL: 'http://10.0.0.5:25000/',
    });
    expect(env.HOME).toBeUndefined();
  });

  it("gives the allocation's own address in NOMAD_ALLOC_IP_* and NOMAD_ALLOC_ADDR_* in bridge mode", () => {
    const env = buildTaskEnv({ ...input, fsIsolation: 'none', allocIP: '172.26.80.7' });
    expect(env).toMatchObject({
      NOMAD_ALLOC_IP_http: '172.26.80.7',
      NOMAD_ALLOC_PORT_http: '8080',
      NOMAD_ALLOC_ADDR_http: '172.26.80.7:8080',
      NOMAD_HOST_IP_http: '10.0.0.5',
      NOMAD_HOST_PORT_http: '25000',
    });
  });

  it('passes the agent environment to unisolated drivers, without its NOMAD_ variables', () => {
    const env = buildTaskEnv({ ...input, fsIsolation: 'none' });
    expect(env.HOME).toBe('/root');
    expect(env.NOMAD_TOKEN).toBeUndefined();
    expect(env.NOMAD_TASK_DIR).toBe('/d/a/t/local');
  });
});
