import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { HaSeat } from './ha-seat.js';

/** A seat that never campaigns: its election state is set by hand, as each case needs. */
function seat(leader: () => string) {
  const s = new HaSeat(
    { dataDir: '/nonexistent', logger: nullLogger, etcd: { endpoints: ['http://127.0.0.1:1'] } },
    nullLogger,
  );
  Object.defineProperty(s.leadership, 'leaderAddress', { get: leader });
  (s as unknown as { address: string }).address = 'http://127.0.0.1:4646';
  return s;
}
const q = new URLSearchParams();
/** Whether `p` has settled once every already-queued callback ran (no clock involved). */
async function settledNow(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}
/** Resolves once `p` settled or `polls` timer turns passed (the hold re-checks every 50 ms). */
async function stillHeldAfter(p: Promise<unknown>, polls: number): Promise<boolean> {
  for (let i = 0; i < polls; i++) {
    if (await settledNow(p)) return false;
    await new Promise((r) => setTimeout(r, 60));
  }
  return !(await settledNow(p));
}

describe('HaSeat.holdForLeader (Nomad’s RPC hold)', () => {
  it('holds a request while this server has won but its Server is still loading, and lets it go once it runs', async () => {
    const s = seat(() => 'http://127.0.0.1:4646');
    const held = s.holdForLeader('GET', '/v1/job/web', q);
    expect(await stillHeldAfter(held, 3)).toBe(true);
    (s as unknown as { current: object }).current = {};
    await held;
  });

  it('holds while no leader is elected, until another server leads', async () => {
    let leader = '';
    const s = seat(() => leader);
    const held = s.holdForLeader('POST', '/v1/jobs', q);
    expect(await stillHeldAfter(held, 3)).toBe(true);
    leader = 'http://127.0.0.1:4647';
    await held;
  });

  it('lets a held request go as soon as its client goes away', async () => {
    const s = seat(() => '');
    const gone = new AbortController();
    const held = s.holdForLeader('GET', '/v1/jobs', q, () => gone.signal);
    expect(await stillHeldAfter(held, 2)).toBe(true);
    gone.abort();
    expect(await settledNow(held)).toBe(true);
  });

  it('does not hold agent paths, nor any request once another server leads', async () => {
    expect(await settledNow(seat(() => '').holdForLeader('GET', '/v1/agent/self', q))).toBe(true);
    expect(await settledNow(seat(() => 'http://127.0.0.1:4647').holdForLeader('GET', '/v1/jobs', q))).toBe(true);
  });
});
