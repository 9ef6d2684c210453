/** Builds servers for tests: fake scheduler, fast heartbeats, an in-memory or SQLite backend. */
import { nullLogger } from '../../logging/index.js';
import { MemoryBackend, type StateBackend } from '../../state/index.js';
import { createServer, type Server, type ServerOptions } from '../server.js';
import { newFakeScheduler } from './fake-scheduler.js';

export async function testServer(over: Partial<ServerOptions> = {}, backend: StateBackend | undefined = new MemoryBackend()): Promise<Server> {
  return createServer({
    dataDir: ':memory:',
    logger: nullLogger,
    newScheduler: newFakeScheduler,
    heartbeat: { minTTLms: 60_000, maxHeartbeatsPerSecond: 50, gracems: 1_000 },
    broker: { initialNackDelayMs: 10, subsequentNackDelayMs: 10 },
    numWorkers: 1,
    start: false,
    ...(backend != null ? { backend } : {}),
    ...over,
  });
}

/** Polls `cond` every 10 ms until it holds; fails after `ms`. */
export async function eventually<T>(cond: () => T | undefined | false | Promise<T | undefined | false>, ms = 3_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
