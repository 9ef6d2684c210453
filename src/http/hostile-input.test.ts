/**
 * The reproducers of issue #13, each driven over HTTP against a real server (real scheduler, SQLite in a
 * temporary directory): hostile input gets a 400 naming the field, answers come quickly, and the agent
 * still writes afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { createServer, type Server } from '../server/index.js';
import { buildRouter, type HttpApi } from './server.js';
import { testHttpApi, testRouteOptions } from './testing/test-api.js';

let dir: string;
let server: Server;
let http: HttpApi;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'drover-hostile-'));
  server = await createServer({ dataDir: dir, logger: nullLogger, numWorkers: 1 });
  http = await testHttpApi({ server });
});

afterAll(async () => {
  await http?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  rawBody?: string,
  headers: Record<string, string> = {},
) {
  const started = performance.now();
  const res = await fetch(`${http.address}${path}`, {
    method,
    headers,
    body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - started };
}

function job(id: string, over: (j: Record<string, any>) => void = () => {}): Record<string, any> {
  const j: Record<string, any> = {
    ID: id,
    Name: id,
    Type: 'service',
    Datacenters: ['dc1'],
    TaskGroups: [{ Name: 'g', Count: 1, Tasks: [{ Name: 't', Driver: 'raw_exec', Config: { command: '/bin/true' } }] }],
  };
  over(j);
  return j;
}

/** The agent still accepts and stores a write, quickly. */
async function stillWrites(id: string): Promise<void> {
  const r = await call('PUT', '/v1/jobs', { Job: job(id) });
  expect(r.status, r.text).toBe(200);
  expect(r.ms).toBeLessThan(2_000);
  const g = await call('GET', `/v1/job/${id}`);
  expect(g.status).toBe(200);
}

describe('hostile input over the HTTP API', () => {
  it('evaluates a backtracking regexp constraint in linear time and keeps answering', async () => {
    const node = {
      ID: '3b6c1c0e-0000-4000-8000-000000000001',
      Name: 'n1',
      Datacenter: 'dc1',
      Status: 'ready',
      Attributes: { 'kernel.name': 'linux', 'driver.raw_exec': '1', probe: 'a'.repeat(35) + '!' },
      NodeResources: { Cpu: { CpuShares: 4000 }, Memory: { MemoryMB: 4096 }, Disk: { DiskMB: 10_000 } },
      Drivers: { raw_exec: { Detected: true, Healthy: true } },
      SecretID: 'hostile-input-node-secret-0001',
    };
    const reg = await call('PUT', '/v1/internal/client/register', { Node: node }, undefined, {
      'X-Drover-Node-Secret': node.SecretID,
    });
    expect(reg.status, reg.text).toBe(200);
    const r = await call('PUT', '/v1/jobs', {
      Job: job('regex', (j) => {
        j.Constraints = [{ LTarget: '${attr.probe}', Operand: 'regexp', RTarget: '(a+)+$' }];
      }),
    });
    expect(r.status, r.text).toBe(200);
    const evalID = (JSON.parse(r.text) as { EvalID: string }).EvalID;
    await expect
      .poll(async () => JSON.parse((await call('GET', `/v1/evaluation/${evalID}`)).text).Status, { timeout: 5_000 })
      .toMatch(/complete|blocked/);
    const list = await call('GET', '/v1/jobs');
    expect(list.ms).toBeLessThan(2_000);
  });

  it('answers an HCL regex() with a backtracking pattern at once', async () => {
    const hcl = `job "x" {\n  meta { m = regex("(a+)+$", "${'a'.repeat(40)}!") }\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n    }\n  }\n}\n`;
    const r = await call('PUT', '/v1/jobs/parse', { JobHCL: hcl });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/did not match/);
    expect(r.ms).toBeLessThan(2_000);
  });

  it('refuses a task Config nested 10,000 levels deep, on register and on validate, and keeps writing', async () => {
    // Built as text: JSON.stringify itself overflows the stack on such a value.
    const deep = '{"x":'.repeat(10_000) + '"x"' + '}'.repeat(10_000);
    const body = JSON.stringify({ Job: job('deep') }).replace(
      '"command":"/bin/true"',
      `"command":"/bin/true","args":${deep}`,
    );
    const reg = await call('PUT', '/v1/jobs', undefined, body);
    expect(reg.status).toBe(400);
    expect(reg.text).toMatch(/more than 64 levels deep at Job\.TaskGroups\[0\]\.Tasks\[0\]\.Config\.args/);
    expect((await call('PUT', '/v1/validate/job', undefined, body)).status).toBe(400);
    await stillWrites('after-deep');
  });

  it('refuses a Config deeper than the free-form bound, naming the field', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = { x: deep };
    const r = await call('PUT', '/v1/jobs', {
      Job: job('deep40', (j) => (j.TaskGroups[0].Tasks[0].Config = { args: deep })),
    });
    expect(r.status).toBe(400);
    expect(r.text).toContain('TaskGroups[0].Tasks[0].Config');
    expect(r.text).toContain('nested more than 32 levels');
  });

  it.each([
    ['Count = 1e12', (j: Record<string, any>) => (j.TaskGroups[0].Count = 1e12), 'TaskGroups[0].Count'],
    ['Count = 1.5', (j: Record<string, any>) => (j.TaskGroups[0].Count = 1.5), 'TaskGroups[0].Count'],
    [
      'a reserved port -5',
      (j: Record<string, any>) => (j.TaskGroups[0].Networks = [{ ReservedPorts: [{ Label: 'http', Value: -5 }] }]),
      'TaskGroups[0].Networks[0].ReservedPorts[0].Value',
    ],
    [
      'a reserved port 99999',
      (j: Record<string, any>) => (j.TaskGroups[0].Networks = [{ ReservedPorts: [{ Label: 'http', Value: 99_999 }] }]),
      'TaskGroups[0].Networks[0].ReservedPorts[0].Value',
    ],
    [
      'a periodic Spec "not a cron"',
      (j: Record<string, any>) => {
        j.Type = 'batch';
        j.Periodic = { Spec: 'not a cron' };
      },
      'not a cron',
    ],
    [
      'a periodic TimeZone "Mars/Olympus"',
      (j: Record<string, any>) => {
        j.Type = 'batch';
        j.Periodic = { Spec: '*/5 * * * *', TimeZone: 'Mars/Olympus' };
      },
      'Periodic.TimeZone',
    ],
    ['TaskGroups: [null]', (j: Record<string, any>) => (j.TaskGroups = [null]), 'TaskGroups[0]'],
    ['Tasks: [null]', (j: Record<string, any>) => (j.TaskGroups[0].Tasks = [null]), 'TaskGroups[0].Tasks[0]'],
    [
      'Artifacts: [null]',
      (j: Record<string, any>) => (j.TaskGroups[0].Tasks[0].Artifacts = [null]),
      'TaskGroups[0].Tasks[0].Artifacts[0]',
    ],
  ])('refuses a job with %s, naming the field', async (_name, mutate, field) => {
    const r = await call('PUT', '/v1/jobs', { Job: job('bad', mutate) });
    expect(r.status, r.text).toBe(400);
    expect(r.text).toContain(field);
    expect((await call('GET', '/v1/job/bad')).status).toBe(404);
  });

  it('refuses a __proto__ key inside a job, naming where it is', async () => {
    const raw = JSON.stringify({ Job: job('proto') }).replace('"Name":"g"', '"Name":"g","__proto__":{"Count":5}');
    const r = await call('PUT', '/v1/jobs', undefined, raw);
    expect(r.status).toBe(400);
    expect(r.text).toContain('Job.TaskGroups[0].__proto__');
  });

  it.each([
    ['PUT', '/v1/jobs'],
    ['PUT', '/v1/job/x'],
    ['PUT', '/v1/job/x/plan'],
    ['PUT', '/v1/validate/job'],
    ['PUT', '/v1/jobs/parse'],
    ['PUT', '/v1/var/a/b'],
    ['PUT', '/v1/internal/client/register'],
    ['PUT', '/v1/internal/client/status'],
    ['PUT', '/v1/internal/client/allocs'],
    ['PUT', '/v1/internal/client/services'],
    ['PUT', '/v1/job/x/dispatch'],
    ['PUT', '/v1/job/x/scale'],
    ['PUT', '/v1/node/x/drain'],
    ['PUT', '/v1/node/x/eligibility'],
    ['PUT', '/v1/job/x/revert'],
    ['PUT', '/v1/deployment/promote/x'],
    ['PUT', '/v1/deployment/pause/x'],
  ])('answers a JSON null body on %s %s with 400', async (method, path) => {
    const r = await call(method, path, undefined, 'null');
    expect(r.status, r.text).toBe(400);
    expect(r.text).toContain('must be a JSON object');
  });

  it('answers a JSON null body on every PUT and POST route of the router without a 5xx or a TypeError', async () => {
    const writes = buildRouter({ server, ...testRouteOptions })
      .list()
      .filter((r) => r.method === 'PUT' || r.method === 'POST');
    expect(writes.length).toBeGreaterThan(30);
    const bad: string[] = [];
    for (const route of writes) {
      const path = route.pattern.replace(/:[a-zA-Z]+|\*[a-zA-Z]+/g, 'x');
      const r = await call(route.method, path, undefined, 'null');
      if (r.status >= 500 || /TypeError|Cannot read prop/.test(r.text))
        bad.push(`${route.method} ${path}: ${r.status} ${r.text}`);
    }
    expect(bad).toEqual([]);
  });

  it('refuses variable Items that are not a map of strings', async () => {
    const r = await call('PUT', '/v1/var/hostile/items', { Items: 'x' });
    expect(r.status).toBe(400);
    expect(r.text).toContain('Items');
    expect((await call('GET', '/v1/var/hostile/items')).status).toBe(404);
  });

  it('refuses a node whose NodeResources is a number', async () => {
    const r = await call('PUT', '/v1/internal/client/register', {
      Node: { ID: '3b6c1c0e-0000-4000-8000-000000000009', Name: 'bad', NodeResources: 5 },
    });
    expect(r.status).toBe(400);
    expect(r.text).toContain('Node.NodeResources');
  });

  it('refuses a blocking index beyond 2^53 instead of waiting on it', async () => {
    const r = await call('GET', '/v1/jobs?index=99999999999999999999999');
    expect(r.status).toBe(400);
    expect(r.ms).toBeLessThan(2_000);
  });

  it('still writes after all of the above', async () => {
    await stillWrites('final');
  });
});
