import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MultiregionCoordinator, type MultiregionBlock, type RolloutStore } from './multiregion.js';
import { memoryLogger, nullLogger } from '../logging/index.js';
import { SqliteBackend, StateStore } from '../state/index.js';
import type { RegionDirectory } from '../http/index.js';
import type { Job } from '../structs/index.js';
import { isDroverError } from '../errors/index.js';

/** One stand-in server per region: the jobs registered there, and the status its deployment reports. */
interface FakeRegion {
  server: Server;
  base: string;
  registered: Job[];
  status: string;
  failed: string[];
}

async function fakeRegion(): Promise<FakeRegion> {
  const r: FakeRegion = { server: createServer(), base: '', registered: [], status: 'running', failed: [] };
  r.server.on('request', (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      res.setHeader('content-type', 'application/json');
      if (req.method === 'PUT' && path === '/v1/jobs') {
        r.registered.push((JSON.parse(body) as { Job: Job }).Job);
        res.end(JSON.stringify({ EvalID: 'e', JobModifyIndex: 10 }));
      } else if (path.endsWith('/deployment'))
        res.end(JSON.stringify(r.registered.length ? { ID: 'd1', Status: r.status, JobSpecModifyIndex: 10 } : null));
      else if (path.startsWith('/v1/deployment/fail/')) {
        r.failed.push(path);
        r.status = 'failed';
        res.end('{}');
      } else {
        res.statusCode = 404;
        res.end('"not found"');
      }
    });
  });
  await new Promise<void>((ok) => r.server.listen(0, '127.0.0.1', ok));
  r.base = `http://127.0.0.1:${(r.server.address() as { port: number }).port}`;
  return r;
}

function job(block: MultiregionBlock, extra: Partial<Job> = {}): Job {
  return {
    ID: 'web',
    Name: 'web',
    Type: 'service',
    Datacenters: ['dc1'],
    Meta: { team: 'x' },
    TaskGroups: [{ Name: 'g', Count: 1, Tasks: [] }],
    Multiregion: block as Record<string, unknown>,
    ...extra,
  } as unknown as Job;
}

const block = (onFailure: string, maxParallel = 1): MultiregionBlock => ({
  Strategy: { MaxParallel: maxParallel, OnFailure: onFailure },
  Regions: [
    { Name: 'a', Count: 2, Datacenters: ['dc-a'], Meta: { tier: 'first' } },
    { Name: 'b', Count: 0, Datacenters: [], Meta: null },
  ],
});

describe('MultiregionCoordinator', () => {
  const regions: FakeRegion[] = [];
  const coordinators: MultiregionCoordinator[] = [];
  afterEach(async () => {
    for (const c of coordinators.splice(0)) await c.stop();
    for (const r of regions.splice(0)) await new Promise((ok) => r.server.close(ok));
  });

  async function setup() {
    const a = await fakeRegion();
    const b = await fakeRegion();
    regions.push(a, b);
    const dir: RegionDirectory = {
      regions: () => ['a', 'b'],
      serverFor: (r) => (r === 'b' ? b.base : undefined),
      join: () => Promise.reject(new Error('not used')),
    };
    const log = memoryLogger();
    const c = new MultiregionCoordinator({ region: 'a', regions: dir, self: () => a.base, logger: log });
    coordinators.push(c);
    return { a, b, c, log, dir };
  }

  it("registers each region's part in order: the next region only once the first one's deployment succeeded", async () => {
    const { a, b, c } = await setup();
    await c.start(job(block('fail_all')), { body: {} });
    expect(a.registered).toHaveLength(1);
    expect(a.registered[0]).toMatchObject({
      Region: 'a',
      Datacenters: ['dc-a'],
      Meta: { team: 'x', tier: 'first' },
      TaskGroups: [{ Count: 2 }],
    });
    expect(b.registered).toHaveLength(0);
    a.status = 'successful';
    await vi.waitFor(() => expect(b.registered).toHaveLength(1), { timeout: 10_000 });
    // Region b keeps the job's own datacenters, meta and count where its block gives none.
    expect(b.registered[0]).toMatchObject({ Region: 'b', Datacenters: ['dc1'], Meta: { team: 'x' } });
    expect(b.registered[0]!.TaskGroups[0]!.Count).toBe(1);
  });

  it('continues a rollout kept in state after the server that started it restarts mid-rollout', async () => {
    const { a, b, dir: regionsDir } = await setup();
    const dataDir = mkdtempSync(join(tmpdir(), 'drover-ha3-multiregion-'));
    const stores: StateStore[] = [];
    const open = async (): Promise<RolloutStore> => {
      const s = await StateStore.open({ backend: new SqliteBackend({ dataDir }), logger: nullLogger });
      stores.push(s);
      return {
        all: () => [...s.snapshot().tables.all('multiregion_rollouts')],
        put: async (row) => void (await s.write((tx) => tx.put('multiregion_rollouts', row))),
      };
    };
    const coordinator = (store: RolloutStore) =>
      new MultiregionCoordinator({ region: 'a', regions: regionsDir, self: () => a.base, logger: nullLogger, store });
    try {
      const first = coordinator(await open());
      await first.start(job(block('fail_all')), { body: { EnforceIndex: false }, token: 'secret' });
      expect(a.registered).toHaveLength(1);
      // The server goes away while region a deploys; its deployment succeeds meanwhile.
      await first.stop();
      await stores[0]!.close();
      a.status = 'successful';
      const store = await open();
      expect(store.all()).toMatchObject([
        { JobID: 'web', Status: 'running', Token: 'secret', Regions: { a: { Status: 'started' } } },
      ]);
      const second = coordinator(store);
      coordinators.push(second);
      second.resume();
      await vi.waitFor(() => expect(b.registered).toHaveLength(1), { timeout: 10_000 });
      expect(a.registered).toHaveLength(1);
      b.status = 'successful';
      await vi.waitFor(() => expect(store.all()[0]?.Status).toBe('complete'), { timeout: 10_000 });
      // The caller's token was kept for the next leader only while the rollout ran.
      expect(store.all()[0]?.Token).toBeUndefined();
      expect(store.all()[0]?.Regions).toEqual({
        a: { Status: 'successful', JobModifyIndex: 10 },
        b: { Status: 'successful', JobModifyIndex: 10 },
      });
    } finally {
      for (const s of stores) await s.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('never starts the next region after a failed first region with fail_all', async () => {
    const { a, b, c, log } = await setup();
    await c.start(job(block('fail_all')), { body: {} });
    a.status = 'failed';
    await vi.waitFor(
      () =>
        expect(log.lines.some((l) => l.msg === 'multiregion rollout stopped: later regions are not started')).toBe(
          true,
        ),
      { timeout: 10_000 },
    );
    expect(b.registered).toHaveLength(0);
  });

  it('goes on with the next region after a failed region with fail_local', async () => {
    const { a, b, c } = await setup();
    await c.start(job(block('fail_local')), { body: {} });
    a.status = 'failed';
    await vi.waitFor(() => expect(b.registered).toHaveLength(1), { timeout: 10_000 });
  });

  it('fails the deployments still running in other regions when one fails with fail_all', async () => {
    const { a, b, c } = await setup();
    await c.start(job(block('fail_all', 2)), { body: {} });
    expect(b.registered).toHaveLength(1);
    b.status = 'failed';
    await vi.waitFor(() => expect(a.failed).toEqual(['/v1/deployment/fail/d1']), { timeout: 10_000 });
  });

  it('refuses an unknown region, a bad on_failure and a batch job, naming each field, and registers nothing', async () => {
    const { a, c } = await setup();
    const bad = job(
      { Strategy: { OnFailure: 'fail_some' }, Regions: [{ Name: 'a' }, { Name: 'mars' }] },
      { Type: 'batch' },
    );
    const err = await c.start(bad, { body: {} }).catch((e: unknown) => e);
    expect(isDroverError(err, 'BadRequest')).toBe(true);
    const paths = (err as { problems: Array<{ path: string }> }).problems.map((p) => p.path);
    expect(paths).toEqual(['Multiregion.Regions[1].Name', 'Multiregion.Strategy.OnFailure', 'Type']);
    expect((err as Error).message).toContain('no path to region "mars"');
    expect(a.registered).toHaveLength(0);
  });
});
