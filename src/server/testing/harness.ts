/** Builds servers for tests: fake scheduler, fast heartbeats, an in-memory or SQLite backend. */
import { nullLogger } from '../../logging/index.js';
import { MemoryBackend, type StateBackend } from '../../state/index.js';
import { createServer, type Server, type ServerOptions } from '../server.js';
import { newFakeScheduler } from './fake-scheduler.js';

export async function testServer(
  over: Partial<ServerOptions> = {},
  backend: StateBackend | undefined = new MemoryBackend(),
): Promise<Server> {
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
