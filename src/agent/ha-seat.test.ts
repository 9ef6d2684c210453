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

describe('HaSeat.holdForLeader (Nomad’s RPC hold)', () => {
  it('holds a request while this server has won but its Server is still loading, and lets it go once it runs', async () => {
    const s = seat(() => 'http://127.0.0.1:4646');
    let done = false;
    const held = s.holdForLeader('GET', '/v1/job/web', q).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false);
    (s as unknown as { current: object }).current = {};
    await held;
    expect(done).toBe(true);
  });

  it('holds while no leader is elected, until another server leads', async () => {
    let leader = '';
    const s = seat(() => leader);
    let done = false;
    const held = s.holdForLeader('POST', '/v1/jobs', q).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false);
    leader = 'http://127.0.0.1:4647';
    await held;
    expect(done).toBe(true);
  });

  it('does not hold agent paths, nor any request once another server leads', async () => {
    const none = seat(() => '');
    const t0 = Date.now();
    await none.holdForLeader('GET', '/v1/agent/self', q);
    await seat(() => 'http://127.0.0.1:4647').holdForLeader('GET', '/v1/jobs', q);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
