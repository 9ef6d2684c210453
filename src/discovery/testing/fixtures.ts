/**
 * Presets for the discovery tests over src/testing's builders: job "shop" with one group "front" of one task
 * "web", its running allocation with fixed ports, and catalog registrations.
 */
import type { Allocation, Job, Service, ServiceRegistration } from '../../structs/index.js';
import type { ResolvedCheck } from '../registrations.js';
import { build } from '../../testing/builders.js';

export const NS = 1_000_000;
export const SEC = 1_000_000_000;

export function fixtureJob(
  opts: { groupServices?: Service[]; taskServices?: Service[]; namespace?: string } = {},
): Job {
  const task = build.task({ Name: 'web', Driver: 'raw_exec', Config: {}, Services: opts.taskServices ?? null });
  return build.job({
    Namespace: opts.namespace ?? 'default',
    ID: 'shop',
    TaskGroups: [build.taskGroup({ Name: 'front', Tasks: [task], Services: opts.groupServices ?? null })],
  });
}

/** The allocation of `job`'s group "front" on node-1, running, with an "http" (23456 -> 8080) and "admin" port. */
export function fixtureAlloc(job: Job, over: Partial<Allocation> = {}): Allocation {
  return build.alloc({
    ID: '0a1b2c3d-0000-4000-8000-000000000001',
    EvalID: 'e',
    NodeID: 'node-1',
    NodeName: 'n1',
    Job: job,
    TaskGroup: 'front',
    AllocatedResources: {
      Tasks: { web: { Cpu: { CpuShares: 100 }, Memory: { MemoryMB: 64, MemoryMaxMB: 0 }, Networks: null } },
      Shared: {
        DiskMB: 0,
        Networks: [
          {
            Mode: 'host',
            Device: '',
            CIDR: '',
            IP: '10.0.0.5',
            ReservedPorts: [{ Label: 'admin', Value: 9000, To: 0, HostNetwork: 'default' }],
            DynamicPorts: [{ Label: 'http', Value: 23456, To: 8080, HostNetwork: 'default' }],
          },
        ],
        Ports: [
          { Label: 'http', Value: 23456, To: 8080, HostIP: '10.0.0.5' },
          { Label: 'admin', Value: 9000, To: 0, HostIP: '10.0.0.5' },
          { Label: 'any', Value: 24000, To: 0, HostIP: '0.0.0.0' },
        ],
      },
    },
    ClientStatus: 'running',
    CreateIndex: 1,
    ModifyIndex: 1,
    AllocModifyIndex: 1,
    ...over,
  });
}

let seq = 0;

export function fixtureReg(over: Partial<ServiceRegistration> = {}): ServiceRegistration {
  seq++;
  return {
    ID: `_nomad-task-alloc${seq}-web-web-http`,
    ServiceName: 'web',
    Namespace: 'default',
    NodeID: 'node-1',
    Datacenter: 'dc1',
    JobID: 'shop',
    AllocID: `alloc${seq}`,
    Tags: [],
    Address: '127.0.0.1',
    Port: 20000 + seq,
    CreateIndex: seq,
    ModifyIndex: seq,
    ...over,
  };
}

/** A check as the registrar resolves it: a TCP check "alive" on 127.0.0.1:1, once a second. */
export function resolvedCheck(over: Partial<ResolvedCheck> = {}): ResolvedCheck {
  return {
    CheckID: 'c1',
    Name: 'alive',
    Type: 'tcp',
    Task: 'web',
    Address: '127.0.0.1',
    Port: 1,
    Protocol: 'http',
    Path: '/',
    Method: 'GET',
    Header: {},
    Body: '',
    TLSSkipVerify: false,
    TLSServerName: '',
    GRPCService: '',
    GRPCUseTLS: false,
    Command: '',
    Args: [],
    IntervalMs: 1000,
    TimeoutMs: 200,
    InitialStatus: 'critical',
    SuccessBeforePassing: 0,
    FailuresBeforeCritical: 0,
    FailuresBeforeWarning: 0,
    CheckRestart: null,
    OnUpdate: 'require_healthy',
    ...over,
  };
}
