import { describe, expect, it } from 'vitest';
import { conformanceFiles, readConformanceText } from '../testing/conformance-data.js';
import { itConformance } from '../testing/describe-conformance.js';
import type { Job } from '../structs/index.js';
import { canonicalizeJob, parseJobHCL, validateJob } from './index.js';

function job(
  over: Record<string, unknown> = {},
  task: Record<string, unknown> = {},
  group: Record<string, unknown> = {},
): Job {
  return canonicalizeJob({
    ID: 'web',
    TaskGroups: [{ Name: 'api', Tasks: [{ Name: 'srv', Driver: 'docker', ...task }], ...group }],
    ...over,
  } as unknown as Job);
}

describe('validateJob', () => {
  itConformance('finds nothing wrong in the e2e jobs Nomad runs', () => {
    for (const f of conformanceFiles('e2e-jobs', /\.nomad$/)) {
      const { job: j } = parseJobHCL(readConformanceText('e2e-jobs', f), { filename: f });
      expect(validateJob(canonicalizeJob(j)), f).toEqual([]);
    }
  });

  it('refuses an artifact destination that climbs out of the allocation directory', () => {
    const bad = validateJob(job({}, { Artifacts: [{ GetterSource: 'http://h/x', RelativeDest: '../../x' }] }));
    expect(bad).toEqual([
      expect.objectContaining({
        path: 'TaskGroups[0].Tasks[0].Artifacts[0].RelativeDest',
        message: expect.stringContaining('escapes the allocation directory'),
      }),
    ]);
    for (const ok of ['local/', '../alloc/data', '/local/bin', 'a/../../alloc'])
      expect(validateJob(job({}, { Artifacts: [{ GetterSource: 'http://h/x', RelativeDest: ok }] })), ok).toEqual([]);
  });

  it('accepts a minimal job once defaults are filled', () => {
    expect(validateJob(job())).toEqual([]);
  });

  it('reports each problem with its struct path', () => {
    const bad = job(
      { Priority: 500, Type: 'daemon' },
      { Driver: '', Resources: { CPU: 100, MemoryMB: 5 }, Templates: [{ ChangeMode: 'sometimes' }] },
      { Count: -2, Volumes: { data: { Type: 'nfs', Source: 'x' } } },
    );
    const paths = validateJob(bad).map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'Type',
        'Priority',
        'TaskGroups[0].Count',
        'TaskGroups[0].Tasks[0].Driver',
        'TaskGroups[0].Tasks[0].Resources.MemoryMB',
        'TaskGroups[0].Tasks[0].Templates[0].DestPath',
        'TaskGroups[0].Tasks[0].Templates[0].ChangeMode',
        'TaskGroups[0].Volumes.data.Type',
      ]),
    );
  });

  it('reports duplicate group and task names and an empty job', () => {
    const dup = {
      ID: 'x',
      TaskGroups: [
        {
          Name: 'a',
          Tasks: [
            { Name: 't', Driver: 'exec' },
            { Name: 't', Driver: 'exec' },
          ],
        },
        { Name: 'a', Tasks: [{ Name: 'u', Driver: 'exec' }] },
      ],
    } as unknown as Job;
    const msgs = validateJob(dup).map((p) => `${p.path}: ${p.message}`);
    expect(msgs.some((m) => m.startsWith('TaskGroups[0].Tasks[1].Name: duplicate task "t"'))).toBe(true);
    expect(msgs.some((m) => m.startsWith('TaskGroups[1].Name: duplicate task group "a"'))).toBe(true);
    expect(validateJob({ ID: 'e' } as unknown as Job).map((p) => p.path)).toEqual(['TaskGroups']);
  });

  it('checks constraint operators, affinity weights and spread percentages', () => {
    const bad = job({
      Constraints: [{ LTarget: '${attr.os}', RTarget: 'linux', Operand: 'like' }],
      Affinities: [{ LTarget: '${node.class}', RTarget: 'big', Operand: '=', Weight: 0 }],
      Spreads: [
        {
          Attribute: '${node.dc}',
          Weight: 50,
          SpreadTarget: [
            { Value: 'a', Percent: 70 },
            { Value: 'b', Percent: 40 },
          ],
        },
      ],
    });
    expect(validateJob(bad).map((p) => p.path)).toEqual([
      'Constraints[0].Operand',
      'Affinities[0].Weight',
      'Spreads[0].SpreadTarget',
    ]);
  });

  it('checks the disconnect block: reconcile modes, and lost_after with stop_on_client_after or with its old name', () => {
    const S = 1e9;
    expect(validateJob(job({}, {}, { Disconnect: { LostAfter: 30 * S, Reconcile: 'keep_original' } }))).toEqual([]);
    const both = validateJob(
      job(
        {},
        {},
        {
          Disconnect: { LostAfter: 30 * S, StopOnClientAfter: 10 * S, Reconcile: 'newest' },
          MaxClientDisconnect: 5 * S,
        },
      ),
    );
    expect(both.map((p) => p.path)).toEqual([
      'TaskGroups[0].Disconnect.Reconcile',
      'TaskGroups[0].Disconnect',
      'TaskGroups[0].MaxClientDisconnect',
    ]);
    expect(both[1]?.message).toMatch(/lost_after and stop_on_client_after cannot both be set/);
    const old = validateJob(job({}, {}, { MaxClientDisconnect: 5 * S, StopAfterClientDisconnect: 5 * S }));
    expect(old.map((p) => p.message)).toEqual([
      'max_client_disconnect and stop_after_client_disconnect cannot both be set',
    ]);
  });
});

describe('validateJob port labels', () => {
  it('reports a service port label that no network defines, unless the driver provides the address', () => {
    const bad = job(
      {},
      {
        Services: [
          { Name: 's', PortLabel: 'http' },
          { Name: 'd', PortLabel: 'http', AddressMode: 'driver' },
          { Name: 'n', PortLabel: '8080' },
        ],
      },
    );
    expect(validateJob(bad).map((p) => p.path)).toEqual(['TaskGroups[0].Tasks[0].Services[0].PortLabel']);
    const ok = job(
      {},
      { Services: [{ Name: 's', PortLabel: 'http' }] },
      { Networks: [{ DynamicPorts: [{ Label: 'http' }] }] },
    );
    expect(validateJob(ok)).toEqual([]);
  });
});
