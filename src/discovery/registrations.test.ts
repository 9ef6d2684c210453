import { describe, expect, it } from 'vitest';
import { isDroverError } from '../errors/index.js';
import type { Service } from '../structs/index.js';
import { buildServiceWorkloads, type BuildRegistrationsInput } from './registrations.js';
import { fixtureAlloc, fixtureJob, SEC } from './testing/fixtures.js';

const node = { ID: 'node-1', Datacenter: 'dc1' };

function build(services: Service[], over: Partial<BuildRegistrationsInput> = {}, level: 'task' | 'group' = 'task') {
  const job = level === 'task' ? fixtureJob({ taskServices: services }) : fixtureJob({ groupServices: services });
  const alloc = fixtureAlloc(job);
  return buildServiceWorkloads({
    alloc,
    node,
    advertiseIP: '10.0.0.9',
    ...(level === 'task' ? { task: 'web' } : {}),
    ...over,
  });
}

describe('buildServiceWorkloads', () => {
  it('registers a task service on the host address and host port of its label', () => {
    const [w] = build([{ Name: 'web', PortLabel: 'http', Tags: ['v1'] }]);
    expect(w!.registration).toMatchObject({
      ID: '_nomad-task-0a1b2c3d-0000-4000-8000-000000000001-web-web-http',
      ServiceName: 'web',
      Namespace: 'default',
      NodeID: 'node-1',
      Datacenter: 'dc1',
      JobID: 'shop',
      AllocID: '0a1b2c3d-0000-4000-8000-000000000001',
      Tags: ['v1'],
      Address: '10.0.0.5',
      Port: 23456,
      Status: 'passing',
      Checks: [],
    });
    expect(w!.task).toBe('web');
  });

  it('names group services after the group and uses the agent address for ports bound everywhere', () => {
    const [w] = build([{ Name: 'g', PortLabel: 'any' }], {}, 'group');
    expect(w!.registration.ID).toBe('_nomad-task-0a1b2c3d-0000-4000-8000-000000000001-group-front-g-any');
    expect(w!.registration.Address).toBe('10.0.0.9');
    expect(w!.registration.Port).toBe(24000);
    expect(w!.task).toBe('');
  });

  it('interpolates names, tags and meta with the given function', () => {
    const env: Record<string, string> = { NOMAD_JOB_NAME: 'shop', NOMAD_ALLOC_INDEX: '3' };
    const interpolate = (s: string) => s.replace(/\$\{([^}]+)\}/g, (w, k: string) => env[k] ?? w);
    const [w] = build(
      [
        {
          Name: '${NOMAD_JOB_NAME}-web',
          PortLabel: 'http',
          Tags: ['i${NOMAD_ALLOC_INDEX}'],
          Meta: { idx: '${NOMAD_ALLOC_INDEX}' },
        },
      ],
      { interpolate },
    );
    expect(w!.registration.ServiceName).toBe('shop-web');
    expect(w!.registration.Tags).toEqual(['i3']);
    expect(w!.registration.Meta).toEqual({ idx: '3' });
  });

  it('names a check the job file left unnamed after its service, even when interpolating', () => {
    const interpolate = (s: string) => s.replace('${NAME}', 'admin');
    const check = { Type: 'tcp', Interval: SEC, Timeout: SEC } as unknown as NonNullable<Service['Checks']>[number];
    const [w] = build([{ Name: '${NAME}', PortLabel: 'http', Checks: [check] }], { interpolate });
    expect(w!.checks[0]?.Name).toBe('service: "admin" check');
  });

  it('uses canary tags and canary meta for a canary allocation', () => {
    const svc: Service = {
      Name: 'web',
      PortLabel: 'http',
      Tags: ['live'],
      CanaryTags: ['canary'],
      Meta: { a: '1', b: '1' },
      CanaryMeta: { b: '2' },
    };
    const [w] = build([svc], { canary: true });
    expect(w!.registration.Tags).toEqual(['canary']);
    expect(w!.registration.Meta).toEqual({ a: '1', b: '2' });
    expect(build([svc], { canary: false })[0]?.registration.Tags).toEqual(['live']);
  });

  it('follows the address modes: driver, alloc, and auto with an advertising driver', () => {
    const driverNetwork = { ip: '172.17.0.3', portMap: { http: 8081 }, autoAdvertise: true };
    expect(
      build([{ Name: 'd', PortLabel: 'http', AddressMode: 'driver' }], { driverNetwork })[0]?.registration,
    ).toMatchObject({ Address: '172.17.0.3', Port: 8081 });
    expect(
      build([{ Name: 'd', PortLabel: 'admin', AddressMode: 'driver' }], { driverNetwork })[0]?.registration,
    ).toMatchObject({ Address: '172.17.0.3', Port: 9000 });
    expect(
      build([{ Name: 'd', PortLabel: '7000', AddressMode: 'driver' }], { driverNetwork })[0]?.registration.Port,
    ).toBe(7000);
    expect(
      build([{ Name: 'a', PortLabel: 'http', AddressMode: 'alloc' }], { allocIP: '172.26.64.2' })[0]?.registration,
    ).toMatchObject({ Address: '172.26.64.2', Port: 8080 });
    expect(build([{ Name: 'x', PortLabel: 'http' }], { driverNetwork })[0]?.registration.Address).toBe('172.17.0.3');
    expect(
      build([{ Name: 'x', PortLabel: 'http' }], { driverNetwork: { ip: '172.17.0.3' } })[0]?.registration.Address,
    ).toBe('10.0.0.5');
  });

  it('uses the service address when one is given in host mode', () => {
    expect(build([{ Name: 'x', PortLabel: 'http', Address: 'web.example.com' }])[0]?.registration).toMatchObject({
      Address: 'web.example.com',
      Port: 23456,
    });
  });

  it('reports every unresolvable port with its path', () => {
    try {
      build([
        { Name: 'a', PortLabel: 'nope' },
        { Name: 'b', PortLabel: 'http', AddressMode: 'driver' },
      ]);
      expect.unreachable();
    } catch (e) {
      expect(isDroverError(e, 'BadRequest')).toBe(true);
      if (!isDroverError(e)) throw e;
      expect(e.problems.map((p) => p.path)).toEqual(['Tasks[web].Services[0]', 'Tasks[web].Services[1]']);
      expect(e.problems[0]?.message).toContain('port label not found');
    }
  });

  it('resolves checks to the host mapping on an agent-reachable address with defaults', () => {
    const [w] = build([
      {
        Name: 'web',
        PortLabel: 'any',
        Checks: [
          {
            Name: 'alive',
            Type: 'http',
            Path: '/health',
            Interval: 5 * SEC,
            Timeout: 1 * SEC,
            Header: { 'X-A': ['1'] },
          },
          {
            Name: 'tcp',
            Type: 'tcp',
            PortLabel: 'http',
            AddressMode: 'driver',
            Interval: 5 * SEC,
            Timeout: 1 * SEC,
            CheckRestart: { Limit: 3, Grace: 10 * SEC, IgnoreWarnings: true },
          },
        ],
      },
    ]);
    const [http, tcp] = w!.checks;
    expect(http).toMatchObject({
      Type: 'http',
      Address: '127.0.0.1',
      Port: 24000,
      Path: '/health',
      Method: 'GET',
      IntervalMs: 5000,
      TimeoutMs: 1000,
      InitialStatus: 'critical',
      CheckRestart: null,
      OnUpdate: 'require_healthy',
      Task: 'web',
    });
    expect(http!.Header).toEqual({ 'X-A': ['1'] });
    expect(tcp).toMatchObject({
      Address: '10.0.0.5',
      Port: 23456,
      CheckRestart: { Limit: 3, GraceMs: 10000, IgnoreWarnings: true },
    });
    expect(http!.CheckID).toMatch(/^_nomad-check-[0-9a-f]{40}$/);
    expect(http!.CheckID).not.toBe(tcp!.CheckID);
    expect(w!.registration.Status).toBe('critical');
    expect(w!.registration.Checks!.map((c) => c.Status)).toEqual(['critical', 'critical']);
  });

  it('keeps check IDs stable for the same definition', () => {
    const svc: Service = {
      Name: 'web',
      PortLabel: 'http',
      Checks: [{ Name: 'c', Type: 'tcp', Interval: SEC, Timeout: SEC }],
    };
    expect(build([svc])[0]?.checks[0]?.CheckID).toBe(build([svc])[0]!.checks[0]!.CheckID);
  });

  it('starts the instance in the worst initial status of its checks', () => {
    const [w] = build([
      {
        Name: 'web',
        PortLabel: 'http',
        Checks: [
          { Name: 'a', Type: 'tcp', Interval: SEC, Timeout: SEC, InitialStatus: 'passing' },
          { Name: 'b', Type: 'tcp', Interval: SEC, Timeout: SEC, InitialStatus: 'warning' },
        ],
      },
    ]);
    expect(w!.registration.Status).toBe('warning');
  });

  it('runs a group script check in the task it names, and refuses one without a task', () => {
    const ok = build(
      [
        {
          Name: 'g',
          PortLabel: 'http',
          Checks: [{ Name: 's', Type: 'script', Command: '/bin/true', TaskName: 'web', Interval: SEC, Timeout: SEC }],
        },
      ],
      {},
      'group',
    );
    expect(ok[0]?.checks[0]).toMatchObject({ Type: 'script', Task: 'web', Command: '/bin/true' });
    expect(() =>
      build(
        [
          {
            Name: 'g',
            PortLabel: 'http',
            Checks: [{ Name: 's', Type: 'script', Command: 'x', Interval: SEC, Timeout: SEC }],
          },
        ],
        {},
        'group',
      ),
    ).toThrow(/needs a task/);
  });

  it('fills Consul threshold defaults: warning stage only when set', () => {
    const [w] = build([
      {
        Name: 'web',
        PortLabel: 'http',
        Checks: [
          { Name: 'a', Type: 'tcp', Interval: SEC, Timeout: SEC, FailuresBeforeCritical: 3 },
          {
            Name: 'b',
            Type: 'tcp',
            Interval: SEC,
            Timeout: SEC,
            FailuresBeforeCritical: 3,
            FailuresBeforeWarning: 1,
            SuccessBeforePassing: 2,
            OnUpdate: 'ignore',
          },
        ],
      },
    ]);
    expect(w!.checks[0]).toMatchObject({
      FailuresBeforeCritical: 3,
      FailuresBeforeWarning: 3,
      SuccessBeforePassing: 0,
    });
    expect(w!.checks[1]).toMatchObject({
      FailuresBeforeCritical: 3,
      FailuresBeforeWarning: 1,
      SuccessBeforePassing: 2,
      OnUpdate: 'ignore',
    });
  });
});
