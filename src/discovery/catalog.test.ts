import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  catalogIndex,
  chooseInstances,
  filterService,
  registrationChanged,
  serviceListStubs,
  serviceRegistrationID,
  templateServiceInstance,
  worstStatus,
} from './catalog.js';
import { fixtureReg } from './testing/fixtures.js';
import type { ServiceHealthStatus } from '../structs/index.js';
import type { ServiceInstance } from '../template/index.js';

describe('serviceListStubs', () => {
  it('groups services by namespace with the sorted union of their tags', () => {
    const regs = [
      fixtureReg({ ServiceName: 'web', Tags: ['b', 'a'] }),
      fixtureReg({ ServiceName: 'web', Tags: ['c', 'a'] }),
      fixtureReg({ ServiceName: 'api', Tags: null }),
      fixtureReg({ ServiceName: 'db', Namespace: 'prod', Tags: ['x'] }),
    ];
    expect(serviceListStubs(regs)).toEqual([
      {
        Namespace: 'default',
        Services: [
          { ServiceName: 'api', Tags: [] },
          { ServiceName: 'web', Tags: ['a', 'b', 'c'] },
        ],
      },
      { Namespace: 'prod', Services: [{ ServiceName: 'db', Tags: ['x'] }] },
    ]);
  });

  it('lists only the requested namespace unless it is *', () => {
    const regs = [fixtureReg({ ServiceName: 'web' }), fixtureReg({ ServiceName: 'db', Namespace: 'prod' })];
    expect(serviceListStubs(regs, { namespace: 'prod' })).toEqual([
      { Namespace: 'prod', Services: [{ ServiceName: 'db', Tags: [] }] },
    ]);
    expect(serviceListStubs(regs, { namespace: 'other' })).toEqual([]);
    expect(serviceListStubs(regs, { namespace: '*' })).toHaveLength(2);
  });

  it('keeps listing a service whose instances are all critical, as Nomad does', () => {
    expect(serviceListStubs([fixtureReg({ Status: 'critical' })])[0]?.Services).toEqual([
      { ServiceName: 'web', Tags: [] },
    ]);
  });
});

describe('filterService', () => {
  const a = fixtureReg({ ID: 'c', Tags: ['v1', 'blue'], Status: 'passing' });
  const b = fixtureReg({ ID: 'a', Tags: ['v2'], Status: 'critical' });
  const c = fixtureReg({ ID: 'b', Tags: ['v1'], Status: 'warning', Datacenter: 'dc2' });
  const other = fixtureReg({ ID: 'd', ServiceName: 'api' });
  const prod = fixtureReg({ ID: 'e', Namespace: 'prod' });
  const all = [a, b, c, other, prod];

  it('answers every instance of the name in the namespace, sorted by ID, whatever their health', () => {
    expect(filterService(all, { name: 'web', namespace: 'default' }).map((r) => r.ID)).toEqual(['a', 'b', 'c']);
  });

  it('filters by tag, by every tag of a list, and by datacenter', () => {
    expect(filterService(all, { name: 'web', namespace: 'default', tag: 'v1' }).map((r) => r.ID)).toEqual(['b', 'c']);
    expect(filterService(all, { name: 'web', namespace: 'default', tags: ['v1', 'blue'] }).map((r) => r.ID)).toEqual([
      'c',
    ]);
    expect(filterService(all, { name: 'web', namespace: 'default', dc: 'dc2' }).map((r) => r.ID)).toEqual(['b']);
  });

  it('keeps only passing instances when asked, or the listed statuses', () => {
    expect(filterService(all, { name: 'web', namespace: 'default', healthy: 'passing' }).map((r) => r.ID)).toEqual([
      'c',
    ]);
    expect(
      filterService(all, { name: 'web', namespace: 'default', statuses: ['passing', 'warning'] }).map((r) => r.ID),
    ).toEqual(['b', 'c']);
  });

  it('counts a registration without a status as passing', () => {
    const plain = fixtureReg({ ID: 'z' });
    delete plain.Status;
    expect(filterService([plain], { name: 'web', namespace: 'default', healthy: 'passing' })).toHaveLength(1);
  });

  it('searches every namespace for *', () => {
    expect(filterService(all, { name: 'web', namespace: '*' }).map((r) => r.ID)).toEqual(['a', 'b', 'c', 'e']);
  });
});

describe('worstStatus', () => {
  it('is passing for no checks and the worst otherwise', () => {
    expect(worstStatus([])).toBe('passing');
    expect(worstStatus(['passing', 'warning'])).toBe('warning');
    expect(worstStatus(['warning', 'critical', 'passing'])).toBe('critical');
  });

  it('never reports better than any single status (property)', () => {
    const rank = { passing: 0, warning: 1, critical: 2 };
    fc.assert(
      fc.property(fc.array(fc.constantFrom<ServiceHealthStatus>('passing', 'warning', 'critical')), (xs) => {
        const w = worstStatus(xs);
        return xs.every((x) => rank[x] <= rank[w]) && (xs.length === 0 ? w === 'passing' : xs.includes(w));
      }),
    );
  });
});

describe('identifiers and indexes', () => {
  it('builds Nomad registration IDs for task and group services', () => {
    expect(serviceRegistrationID('a1', { task: 'web' }, 'shop', 'http')).toBe('_nomad-task-a1-web-shop-http');
    expect(serviceRegistrationID('a1', { group: 'front' }, 'shop', 'http')).toBe(
      '_nomad-task-a1-group-front-shop-http',
    );
  });

  it('uses the highest modify index, and 1 for an empty catalog', () => {
    expect(catalogIndex([])).toBe(1);
    expect(catalogIndex([fixtureReg({ ModifyIndex: 7 }), fixtureReg({ ModifyIndex: 3 })])).toBe(7);
  });
});

describe('chooseInstances', () => {
  const regs = Array.from({ length: 10 }, (_, i) => fixtureReg({ ID: `r${i}` }));

  it('picks the same subset for the same key and at most n', () => {
    const x = chooseInstances(regs, 3, 'client-a').map((r) => r.ID);
    expect(x).toHaveLength(3);
    expect(chooseInstances([...regs].reverse(), 3, 'client-a').map((r) => r.ID)).toEqual(x);
  });

  it('moves only the keys that had a removed instance (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 9 }), (key, drop) => {
        const before = chooseInstances(regs, 1, key)[0]!;
        const after = chooseInstances(
          regs.filter((_, i) => i !== drop),
          1,
          key,
        )[0]!;
        return before.ID === `r${drop}` || after.ID === before.ID;
      }),
    );
  });
});

describe('registrationChanged', () => {
  it('ignores check output and timestamps but sees status, address and tag changes', () => {
    const r = fixtureReg({
      Status: 'passing',
      Checks: [{ CheckID: 'c', Name: 'n', Status: 'passing', Output: 'a', Timestamp: 1 }],
    });
    expect(registrationChanged(undefined, r)).toBe(true);
    expect(
      registrationChanged(r, {
        ...r,
        Checks: [{ CheckID: 'c', Name: 'n', Status: 'passing', Output: 'b', Timestamp: 2 }],
      }),
    ).toBe(false);
    expect(registrationChanged(r, { ...r, Status: 'critical' })).toBe(true);
    expect(registrationChanged(r, { ...r, Port: r.Port + 1 })).toBe(true);
    expect(registrationChanged(r, { ...r, Tags: ['new'] })).toBe(true);
  });
});

describe('templateServiceInstance', () => {
  it("gives the template module's ServiceInstance fields", () => {
    const r = fixtureReg({
      ServiceName: 'api',
      Tags: ['a'],
      Meta: { m: '1' },
      Status: 'warning',
      Checks: [{ CheckID: 'c', Name: 'n', Status: 'warning', Output: 'o', Timestamp: 1 }],
    });
    const inst: ServiceInstance = templateServiceInstance(r);
    expect(inst).toMatchObject({
      ID: r.ID,
      Name: 'api',
      Address: r.Address,
      Port: r.Port,
      Tags: ['a'],
      Meta: { m: '1' },
      Status: 'warning',
      Checks: [{ Name: 'n', Status: 'warning', Output: 'o', CheckID: 'c' }],
    });
  });
});
