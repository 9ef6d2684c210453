import { describe, expect, it } from 'vitest';
import { readConformanceJson } from '../testing/conformance-data.js';
import { itConformance } from '../testing/describe-conformance.js';
import { allocCheckStatuses } from './alloc-checks.js';
import { buildServiceWorkloads } from './registrations.js';
import { fixtureAlloc, fixtureJob, SEC } from './testing/fixtures.js';

const workloads = buildServiceWorkloads({
  alloc: fixtureAlloc(
    fixtureJob({
      taskServices: [
        {
          Name: 'web',
          PortLabel: 'http',
          Checks: [
            { Name: 'alive', Type: 'http', Path: '/', Interval: SEC, Timeout: SEC },
            { Name: 'ready', Type: 'tcp', Interval: SEC, Timeout: SEC, OnUpdate: 'ignore' },
            { Name: 'later', Type: 'tcp', Interval: SEC, Timeout: SEC },
          ],
        },
      ],
    }),
  ),
  node: { ID: 'n', Datacenter: 'dc1' },
  advertiseIP: '10.0.0.9',
  task: 'web',
});

describe('allocCheckStatuses', () => {
  it("answers Nomad's AllocCheckStatus per check: success, failure or pending, with mode and status code", () => {
    const [w] = workloads;
    const [alive, ready, later] = w!.checks;
    const reg = {
      ...w!.registration,
      Checks: [
        {
          CheckID: alive!.CheckID,
          Name: 'alive',
          Status: 'passing' as const,
          Output: 'HTTP GET ...: 200 OK',
          Timestamp: 1_700_000_000_500_000_000,
          StatusCode: 200,
        },
        {
          CheckID: ready!.CheckID,
          Name: 'ready',
          Status: 'critical' as const,
          Output: 'dial tcp: refused',
          Timestamp: 1_700_000_001_000_000_000,
        },
        { CheckID: later!.CheckID, Name: 'later', Status: 'critical' as const, Output: '', Timestamp: 0 },
      ],
    };
    const out = allocCheckStatuses('front', workloads, [reg]);
    expect(out[alive!.CheckID]).toEqual({
      ID: alive!.CheckID,
      Check: 'alive',
      Group: 'front',
      Mode: 'healthiness',
      Output: 'HTTP GET ...: 200 OK',
      Service: 'web',
      Task: 'web',
      Status: 'success',
      StatusCode: 200,
      Timestamp: 1_700_000_000,
    });
    expect(out[ready!.CheckID]).toMatchObject({
      Mode: 'readiness',
      Status: 'failure',
      StatusCode: 0,
      Timestamp: 1_700_000_001,
    });
    expect(out[later!.CheckID]).toMatchObject({ Status: 'pending', Timestamp: 0 });
  });

  itConformance("has every field of Nomad's AllocCheckStatus", () => {
    const types = readConformanceJson<Record<string, { fields: Array<{ json: string; type: string }> }>>(
      'api-shapes',
      'api-types.head.json',
    );
    const one = Object.values(allocCheckStatuses('front', workloads))[0]!;
    for (const f of types.AllocCheckStatus!.fields) {
      expect(one, f.json).toHaveProperty(f.json);
      expect(typeof (one as unknown as Record<string, unknown>)[f.json], f.json).toBe(
        f.type === 'string' ? 'string' : 'number',
      );
    }
  });
});
