import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from '../../server/index.js';
import { newFakeScheduler } from '../../server/testing/fake-scheduler.js';
import type { HttpApi } from '../server.js';
import { testAgent } from '../testing/test-api.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function agent(): Promise<{ http: HttpApi; server: Server }> {
  const dir = mkdtempSync(join(tmpdir(), 'drover-events-route-'));
  const { server, http, stop } = await testAgent({ dataDir: dir, newScheduler: newFakeScheduler });
  cleanups.push(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { http, server };
}

/** A job whose event is ≈ 64 KB of JSON, so a few dozen fill the socket of a reader that does not read. */
const bigJob = (id: string) => ({
  ID: id,
  Name: id,
  Type: 'batch',
  Datacenters: ['dc1'],
  Meta: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'x'.repeat(2000)])),
  TaskGroups: [{ Name: 'g', Count: 0, Tasks: [{ Name: 't', Driver: 'mock_driver', Config: {} }] }],
});

describe('GET /v1/event/stream', () => {
  it('pauses a reader that stops reading, holds nothing for it, and goes on where it stopped once it reads', async () => {
    const { http, server } = await agent();
    const url = new URL(`${http.address}/v1/event/stream?topic=Job:*`);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search }, resolve);
      req.on('error', reject);
      req.end();
    });
    cleanups.push(() => void res.destroy());
    expect(res.statusCode).toBe(200);
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.pause();
    await expect.poll(() => server.events.waiting(), { timeout: 5_000 }).toBe(1);
    const n = 150;
    for (let i = 0; i < n; i++) await server.jobs.register(bigJob(`big-${i}`) as never);
    // About 10 MB of events for a reader that reads nothing: its stream is paused (not waiting for writes, not
    // writing into a growing buffer) ...
    await expect.poll(() => server.events.waiting(), { timeout: 10_000 }).toBe(0);
    expect(text).toBe('');
    // ... and once it reads again it gets every job's event, in order, each batch once (a job's later status
    // change is a Job event of its own, hence first occurrences).
    res.resume();
    const batches = () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{"Index"'))
        .map((l) => JSON.parse(l) as { Index: number; Events: Array<{ Topic: string; Key: string }> });
    const jobs = () => [...new Set(batches().flatMap((b) => b.Events.map((e) => e.Key)))];
    await expect.poll(() => jobs().length, { timeout: 20_000 }).toBe(n);
    expect(jobs()).toEqual(Array.from({ length: n }, (_, i) => `big-${i}`));
    const indexes = batches().map((b) => b.Index);
    expect(indexes).toEqual([...new Set(indexes)].sort((a, b) => a - b));
    await expect.poll(() => server.events.waiting(), { timeout: 5_000 }).toBe(1);
  }, 60_000);
});
