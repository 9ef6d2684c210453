import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backend, BackendRegistry, pickBackend, type Pool } from './backend.js';
import { instance } from './test-support.js';

const settings = (now: () => number) => ({ ejectAfter: 2, ejectForMs: 1000, maxIdleSockets: 4, now });

describe('choosing an instance', () => {
  it('never picks an ejected, draining or already tried instance, and finds one whenever one is eligible', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ejected: fc.boolean(), draining: fc.boolean(), tried: fc.boolean(), active: fc.nat(5) }), {
          minLength: 0,
          maxLength: 6,
        }),
        fc.constantFrom('round_robin' as const, 'least_conn' as const),
        fc.nat(20),
        (states, lb, cursor) => {
          const now = 10_000;
          const backends = states.map((st, i) => {
            const b = new Backend(
              instance(`i${i}`, 1000 + i, []),
              settings(() => now),
            );
            if (st.ejected) b.ejectedUntil = now + 1;
            b.draining = st.draining;
            b.active = st.active;
            return b;
          });
          const tried = backends.filter((_, i) => states[i]!.tried);
          const pool: Pool = { backends, lb, cursor };
          const picked = pickBackend(pool, now, tried);
          const eligible = backends.filter((b, i) => !states[i]!.ejected && !states[i]!.draining && !states[i]!.tried);
          if (eligible.length === 0) expect(picked).toBeUndefined();
          else {
            expect(eligible).toContain(picked);
            if (lb === 'least_conn') expect(picked!.active).toBe(Math.min(...eligible.map((b) => b.active)));
          }
          backends.forEach((b) => b.close());
        },
      ),
    );
  });
});

describe('passive ejection', () => {
  it('ejects after consecutive connect failures with a growing backoff, and a success resets it', () => {
    let now = 0;
    const b = new Backend(
      instance('a', 1, []),
      settings(() => now),
    );
    expect(b.failed()).toBe(false);
    expect(b.failed()).toBe(true);
    expect(b.ejectedUntil).toBe(1000);
    expect(b.available(999)).toBe(false);
    expect(b.available(1000)).toBe(true);
    now = 1000;
    b.failed();
    expect(b.failed()).toBe(true);
    expect(b.ejectedUntil).toBe(3000); // second ejection in a row: twice as long
    b.succeeded();
    now = 5000;
    b.failed();
    b.failed();
    expect(b.ejectedUntil).toBe(6000);
    b.close();
  });
});

describe('the backend registry', () => {
  it('keeps backends across updates and drains those that left, closing them once idle', () => {
    const reg = new BackendRegistry(settings(() => 0));
    const first = reg.update([instance('a', 1, []), instance('b', 2, [])]);
    const a = [...first.values()][0]!;
    const b = [...first.values()][1]!;
    b.acquire();
    const second = reg.update([instance('a', 1, [])]);
    expect([...second.values()]).toEqual([a]);
    expect(b.draining).toBe(true);
    expect(b.available(0)).toBe(false);
    b.release();
    // Same ID at a new port is a new backend: the old one drains.
    const third = reg.update([instance('a', 9, [])]);
    expect([...third.values()][0]).not.toBe(a);
    expect(a.draining).toBe(true);
    reg.closeAll();
  });
});
