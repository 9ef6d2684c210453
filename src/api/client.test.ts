import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isDroverError } from '../errors/index.js';
import { ApiError, DroverClient, isNotFound } from './index.js';
import { BlockingValue, FakeNomad, closedPort } from './testing/index.js';

let fake: FakeNomad;
beforeEach(async () => {
  fake = await new FakeNomad().start();
});
afterEach(async () => {
  await fake.stop();
});

describe('DroverClient reads', () => {
  it('returns the value with the X-Nomad-Index header as index', async () => {
    fake.on('GET', '/v1/jobs', { body: [{ ID: 'web' }], index: 42 });
    const c = new DroverClient({ address: fake.address });
    const r = await c.jobs.list();
    expect(r).toMatchObject({ value: [{ ID: 'web' }], index: 42 });
  });

  it('sends namespace, region, prefix, blocking parameters and the token', async () => {
    fake.on('GET', '/v1/allocations', { body: [], index: 7 });
    const c = new DroverClient({ address: fake.address, namespace: 'prod', region: 'eu', token: 'secret' });
    await c.allocations.list({ prefix: 'ab12', index: 5, wait: 1500 });
    const req = fake.requests[0]!;
    expect(Object.fromEntries(req.query)).toEqual({
      namespace: 'prod',
      region: 'eu',
      prefix: 'ab12',
      index: '5',
      wait: '1500ms',
    });
    expect(req.headers['x-nomad-token']).toBe('secret');
  });

  it('pages a list with per_page and next_token, and hands back X-Nomad-NextToken', async () => {
    fake.on('GET', '/v1/vars', (req) =>
      req.query.get('next_token') === null
        ? { body: [{ Path: 'a' }], index: 3, headers: { 'X-Nomad-NextToken': 'b' } }
        : { body: [{ Path: 'b' }], index: 3 },
    );
    const c = new DroverClient({ address: fake.address });
    const first = await c.variables.list({ prefix: 'x', perPage: 1 });
    const second = await c.variables.list({ prefix: 'x', perPage: 1, nextToken: first.nextToken });
    expect([first.nextToken, second.nextToken]).toEqual(['b', undefined]);
    expect(fake.requests.map((r) => Object.fromEntries(r.query))).toEqual([
      { prefix: 'x', per_page: '1' },
      { prefix: 'x', per_page: '1', next_token: 'b' },
    ]);
  });

  it('accepts an address without a scheme, as nomad does', async () => {
    fake.on('GET', '/v1/status/leader', { body: '"127.0.0.1:4647"', headers: { 'content-type': 'application/json' } });
    const c = new DroverClient({ address: fake.address.replace('http://', '') });
    expect(c.address).toBe(fake.address);
    expect(await c.status.leader()).toBe('127.0.0.1:4647');
  });

  it('holds a blocking query until the value changes', async () => {
    const ev = new BlockingValue({ ID: 'e1', Status: 'pending' }, 10);
    fake.on('GET', '/v1/evaluation/e1', (req) => {
      const answer = ev.answer(req);
      // The value changes only once the blocking query is being held: an answer that did not wait would be the
      // old value read before the change.
      if (req.query.get('index')) ev.set({ ID: 'e1', Status: 'complete' });
      return answer;
    });
    const c = new DroverClient({ address: fake.address });
    const first = await c.evaluations.get('e1');
    expect(first.value.Status).toBe('pending');
    const second = await c.evaluations.get('e1', { index: first.index, wait: 5000 });
    expect(second.value.Status).toBe('complete');
    expect(second.index).toBe(11);
  });

  it('reads job versions whether the server wraps them or not', async () => {
    fake.on('GET', '/v1/job/a/versions', { body: [{ ID: 'a', Version: 1 }], index: 3 });
    fake.on('GET', '/v1/job/b/versions', { body: { Versions: [{ ID: 'b', Version: 2 }], Diffs: [] }, index: 3 });
    const c = new DroverClient({ address: fake.address });
    expect((await c.jobs.versions('a')).value.Versions[0]?.Version).toBe(1);
    expect((await c.jobs.versions('b', { diffs: true })).value.Versions[0]?.Version).toBe(2);
    expect(fake.requests[1]?.query.get('diffs')).toBe('true');
  });
});

describe('DroverClient writes', () => {
  it('registers with the check-index enforcement and the submission', async () => {
    fake.on('POST', '/v1/jobs', {
      body: { EvalID: 'ev', EvalCreateIndex: 9, JobModifyIndex: 9, Warnings: '', Index: 9 },
    });
    const c = new DroverClient({ address: fake.address });
    const job = { ID: 'web' } as never;
    const r = await c.jobs.register(job, {
      enforceIndex: true,
      jobModifyIndex: 0,
      submission: { Source: 'job "web" {}', Format: 'hcl2' },
    });
    expect(r.EvalID).toBe('ev');
    expect(fake.requests[0]?.body).toEqual({
      Job: { ID: 'web' },
      EnforceIndex: true,
      JobModifyIndex: 0,
      Submission: { Source: 'job "web" {}', Format: 'hcl2' },
    });
  });

  it('deregisters with purge as a query parameter', async () => {
    fake.on('DELETE', '/v1/job/web', { body: { EvalID: 'ev', EvalCreateIndex: 1, JobModifyIndex: 1, Index: 1 } });
    const c = new DroverClient({ address: fake.address });
    await c.jobs.deregister('web', { purge: true });
    expect(fake.requests[0]?.query.get('purge')).toBe('true');
  });
});

describe('DroverClient errors', () => {
  it('keeps the stable code of a JSON error body', async () => {
    fake.on('GET', '/v1/job/nope', {
      status: 404,
      body: { error: { code: 'JobNotFound', message: 'job "nope" not found' } },
    });
    const c = new DroverClient({ address: fake.address });
    const e = await c.jobs.get('nope').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(isDroverError(e, 'JobNotFound')).toBe(true);
    expect((e as ApiError).status).toBe(404);
    expect((e as ApiError).message).toBe('job "nope" not found');
  });

  it('derives the code from the status when the body is plain text', async () => {
    fake.on('GET', '/v1/allocation/x', { status: 404, body: 'alloc not found' });
    fake.on('GET', '/v1/allocation/y', { status: 500, body: 'boom' });
    const c = new DroverClient({ address: fake.address });
    const nf = await c.allocations.get('x').catch((x: unknown) => x);
    expect(nf).toMatchObject({ code: 'NotFound', httpStatus: 404, message: 'alloc not found' });
    expect(isNotFound(nf)).toBe(true);
    const internal = await c.allocations.get('y').catch((x: unknown) => x);
    expect(internal).toMatchObject({ code: 'Internal', httpStatus: 500, message: 'boom' });
  });

  it('reads the code and problems Drover sends in headers beside a plain-text message', async () => {
    const problems = [{ message: 'unknown block "grup"', file: 'web.hcl', line: 3, column: 3 }];
    fake.on('POST', '/v1/jobs', {
      status: 400,
      body: 'web.hcl:3:3: unknown block "grup"',
      headers: { 'X-Drover-Error-Code': 'JobParse', 'X-Drover-Problems': encodeURIComponent(JSON.stringify(problems)) },
    });
    const c = new DroverClient({ address: fake.address });
    const e = (await c.jobs.register({ ID: 'x' } as never).catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('JobParse');
    expect(e.status).toBe(400);
    expect(e.message).toBe('web.hcl:3:3: unknown block "grup"');
    expect(e.problems).toEqual(problems);
  });

  it('carries the problems of a validation error', async () => {
    fake.on('POST', '/v1/jobs', {
      status: 400,
      body: {
        error: {
          code: 'JobValidation',
          message: 'bad',
          problems: [{ message: 'count must be >= 0', path: 'TaskGroups[0].Count' }],
        },
      },
    });
    const c = new DroverClient({ address: fake.address });
    const e = (await c.jobs.register({ ID: 'x' } as never).catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('JobValidation');
    expect(e.problems).toEqual([{ message: 'count must be >= 0', path: 'TaskGroups[0].Count' }]);
  });

  it('names the address and suggests the agent is down when the connection is refused', async () => {
    const port = await closedPort();
    const c = new DroverClient({ address: `http://127.0.0.1:${port}` });
    const e = (await c.jobs.list().catch((x: unknown) => x)) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe('Unavailable');
    expect(e.status).toBe(0);
    expect(e.message).toContain(`Error querying http://127.0.0.1:${port}/v1/jobs`);
    expect(e.message).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
    expect(e.message).toContain('is the agent running');
  });
});

describe('allocation logs', () => {
  it('streams the plain log text chunk by chunk with Nomad parameters', async () => {
    fake.on('GET', '/v1/client/fs/logs/a1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('hello ');
      setTimeout(() => res.end('world\n'), 20);
      return 'handled';
    });
    const c = new DroverClient({ address: fake.address });
    let text = '';
    for await (const chunk of c.allocations.logs('a1', 'web', 'stderr', { origin: 'end', offset: 100 })) text += chunk;
    expect(text).toBe('hello world\n');
    expect(Object.fromEntries(fake.requests[0]!.query)).toEqual({
      task: 'web',
      type: 'stderr',
      follow: 'false',
      origin: 'end',
      offset: '100',
      plain: 'true',
    });
  });

  it('stops a followed stream when the signal aborts', async () => {
    let closed = false;
    fake.on('GET', '/v1/client/fs/logs/a1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('line 1\n');
      res.on('close', () => (closed = true));
      return 'handled';
    });
    const c = new DroverClient({ address: fake.address });
    const ac = new AbortController();
    const seen: string[] = [];
    const iterate = (async () => {
      for await (const chunk of c.allocations.logs('a1', 'web', 'stdout', { follow: true, signal: ac.signal })) {
        seen.push(chunk);
        ac.abort();
      }
    })();
    await iterate.catch((e: unknown) => {
      // An abort while waiting for the next chunk surfaces as Aborted; both endings are fine.
      expect(isDroverError(e, 'Aborted') || (e as Error).name === 'AbortError').toBe(true);
    });
    expect(seen).toEqual(['line 1\n']);
    await vi.waitFor(() => expect(closed).toBe(true), { timeout: 2_000 });
  });
});

describe('connection errors', () => {
  it('reports the innermost cause when fetch refuses the URL itself', async () => {
    // Port 1 is on fetch's list of blocked ports: no socket is opened, the cause is "bad port".
    const c = new DroverClient({ address: 'http://127.0.0.1:1' });
    const e = (await c.jobs.list().catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('Unavailable');
    expect(e.message).toBe('Error querying http://127.0.0.1:1/v1/jobs: bad port');
  });
});

describe('a connection closed under a request', () => {
  /** Answers with `body`, except that the first request of each route has its connection cut. */
  function cutFirst(method: string, path: string, body: unknown) {
    let cut = false;
    fake.on(method, path, (_req, res) => {
      if (!cut) {
        cut = true;
        res.socket?.destroy();
        return 'handled';
      }
      return { index: 3, body };
    });
  }

  it('sends a read again once, as the server may have closed a kept-alive connection just then', async () => {
    cutFirst('GET', '/v1/jobs', [{ ID: 'web' }]);
    const c = new DroverClient({ address: fake.address });
    expect((await c.jobs.list()).value).toEqual([{ ID: 'web' }]);
    expect(fake.requests.filter((r) => r.path === '/v1/jobs')).toHaveLength(2);
  });

  it('never sends a write twice', async () => {
    cutFirst('POST', '/v1/job/web/evaluate', { EvalID: 'e1' });
    const c = new DroverClient({ address: fake.address });
    const e = (await c.jobs.evaluate('web').catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('Unavailable');
    expect(fake.requests.filter((r) => r.path === '/v1/job/web/evaluate')).toHaveLength(1);
  });
});
