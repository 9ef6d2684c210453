/**
 * Clients for tests: dc1/global, no logs, quick timings, a fresh data dir under the OS temp dir unless one is
 * given (to restart on the same state), started, and stopped (then the dir removed) by the test's cleanups.
 * `over` holds what a test is about: drivers, timings, node name, meta.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockDriver } from '../../drivers/index.js';
import { nullLogger } from '../../logging/index.js';
import { createClient, type Client, type ClientOptions } from '../client.js';

/** What a test file runs after each test, last added first. */
export type Cleanups = Array<() => Promise<void> | void>;

/** Batches, stats, log rotation and alloc watches fast enough for a test to see them. */
export const quickTiming = {
  allocUpdateBatchMs: 20,
  statsIntervalMs: 200,
  logRotateIntervalMs: 50,
  allocWatchWaitMs: 2_000,
} satisfies ClientOptions['timing'];

/** A fresh directory under the OS temp dir, removed by the cleanups. */
export function tempDataDir(cleanups: Cleanups, prefix = 'drover-client-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestClientOptions extends Partial<Omit<ClientOptions, 'rpc'>> {
  /** Stop with `killTasks` (default true); false leaves tasks running, as an agent restart does. */
  kill?: boolean;
  /** Runs before `start()`, e.g. to wire a driver's event sink to the client. */
  beforeStart?: (client: Client) => void;
}

export async function startTestClient(
  cleanups: Cleanups,
  rpc: ClientOptions['rpc'],
  { kill = true, beforeStart, ...over }: TestClientOptions = {},
): Promise<Client> {
  const dataDir = over.dataDir ?? tempDataDir(cleanups);
  const client = await createClient({
    logger: nullLogger,
    datacenter: 'dc1',
    region: 'global',
    drivers: [new MockDriver()],
    ...over,
    timing: over.timing ?? quickTiming,
    rpc,
    dataDir,
  });
  beforeStart?.(client);
  await client.start();
  cleanups.push(() => client.stop({ killTasks: kill }));
  return client;
}
