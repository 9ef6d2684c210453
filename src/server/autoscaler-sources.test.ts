import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { build } from '../testing/builders.js';
import { MetricsRegistry } from '../gateway/metrics.js';
import type { AllocStats } from '../structs/index.js';
import { gatewaySource, nomadApmSource, prometheusSource, promValue, type MetricQuery } from './autoscaler-sources.js';

function query(over: Partial<MetricQuery>): MetricQuery {
  const job = build.job();
  return {
    key: 'p\u0000c',
    query: 'avg_cpu',
    job,
    group: job.TaskGroups[0]!,
    allocs: [],
    signal: new AbortController().signal,
    nowMs: 0,
    ...over,
  };
}

function stats(ticks: number, rssMB: number): AllocStats {
  return {
    Timestamp: 0,
    Tasks: {},
    ResourceUsage: {
      CpuStats: { TotalTicks: ticks } as AllocStats['ResourceUsage']['CpuStats'],
      MemoryStats: { RSS: rssMB * 1024 * 1024 } as AllocStats['ResourceUsage']['MemoryStats'],
      DeviceStats: null,
    },
  };
}

describe('nomad-apm source', () => {
  const job = build.job();
  const group = { ...job.TaskGroups[0]!, Tasks: [build.task({ Resources: { CPU: 200, MemoryMB: 100 } })] };
  const allocs = [build.alloc({ ID: 'a1' }), build.alloc({ ID: 'a2' })];
  const byID: Record<string, AllocStats> = { a1: stats(100, 25), a2: stats(300, 75) };
  const source = nomadApmSource((a) => Promise.resolve(byID[a.ID]!));

  it("answers CPU and memory as a percentage of the group's reservation", async () => {
    expect(await source.query(query({ group, allocs, query: 'avg_cpu' }))).toBe(100);
    expect(await source.query(query({ group, allocs, query: 'max_cpu-allocated' }))).toBe(150);
    expect(await source.query(query({ group, allocs, query: 'min_memory' }))).toBe(25);
    expect(await source.query(query({ group, allocs, query: 'sum_memory' }))).toBe(100);
  });

  it('leaves out allocations whose stats fail, and fails when none answer', async () => {
    const flaky = nomadApmSource((a) =>
      a.ID === 'a1' ? Promise.reject(new Error('gone')) : Promise.resolve(byID[a.ID]!),
    );
    expect(await flaky.query(query({ group, allocs, query: 'avg_cpu' }))).toBe(150);
    const down = nomadApmSource(() => Promise.reject(new Error('connection refused')));
    await expect(down.query(query({ group, allocs }))).rejects.toThrow(
      /no allocation .* answered its stats: connection refused/,
    );
    expect(await source.query(query({ group, allocs: [] }))).toBeUndefined();
  });
});

describe('drover-gateway source', () => {
  it("computes a route's request rate and mean latency between two evaluations", async () => {
    const reg = new MetricsRegistry();
    const m = reg.forRoute('/web');
    const source = gatewaySource(() => Promise.resolve([reg.render()]));
    const allocs = [build.alloc({ ID: 'a1' }), build.alloc({ ID: 'a2' })];
    expect(await source.query(query({ query: 'request_rate:/web', nowMs: 1000 }))).toBeUndefined();
    for (let i = 0; i < 40; i++) {
      m.requests++;
      m.response(200, 0.02);
    }
    expect(await source.query(query({ query: 'request_rate:/web', nowMs: 3000 }))).toBe(20);
    m.requests += 10;
    m.response(200, 0.5);
    expect(await source.query(query({ query: 'latency_avg_ms:/web', nowMs: 5000 }))).toBeCloseTo(500);
    m.requests += 8;
    expect(await source.query(query({ query: 'request_rate_per_instance:/web', allocs, nowMs: 7000 }))).toBe(2);
  });

  it('reads routes whose names need escaping', async () => {
    const reg = new MetricsRegistry();
    reg.forRoute('a"b/x').requests = 5;
    const source = gatewaySource(() => Promise.resolve([reg.render(), reg.render()]));
    expect(await source.query(query({ query: 'request_rate:a"b/x', nowMs: 0 }))).toBeUndefined();
    reg.forRoute('a"b/x').requests = 7;
    // Two gateways each serving 2 more requests over 1 s.
    expect(await source.query(query({ query: 'request_rate:a"b/x', nowMs: 1000 }))).toBe(4);
  });
});

describe('prometheus source', () => {
  it('reads a scalar or a one-series vector and refuses anything else', () => {
    expect(promValue({ status: 'success', data: { resultType: 'scalar', result: [1, '42.5'] } }, 'q')).toBe(42.5);
    expect(promValue({ status: 'success', data: { resultType: 'vector', result: [{ value: [1, '7'] }] } }, 'q')).toBe(
      7,
    );
    expect(() => promValue({ status: 'success', data: { resultType: 'vector', result: [] } }, 'q')).toThrow(
      /gave 0 series; a check needs exactly one/,
    );
    expect(() => promValue({ status: 'error', error: 'parse error' }, 'q')).toThrow(/failed: parse error/);
  });

  it('queries the instant query API over HTTP', async () => {
    const seen: string[] = [];
    const srv = createHttpServer((req, res) => {
      seen.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ value: [1, '12'] }] } }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as AddressInfo).port;
      const v = await prometheusSource(`http://127.0.0.1:${port}/`).query(query({ query: 'sum(rate(x[1m]))' }));
      expect(v).toBe(12);
      expect(seen).toEqual(['/api/v1/query?query=sum(rate(x%5B1m%5D))']);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
