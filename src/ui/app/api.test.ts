import { describe, expect, it } from 'vitest';
import { Api, ApiError, retryDelayMs } from './api.js';

interface Call {
  url: URL;
  method: string;
}

/** A fake fetch answering from a script of responses; records the calls it got. */
function scripted(answers: Array<() => Response | Promise<Response>>) {
  const calls: Call[] = [];
  const fetch = async (url: string, init?: RequestInit) => {
    calls.push({ url: new URL(url), method: init?.method ?? 'GET' });
    const next = answers.shift();
    if (!next) {
      // Nothing more scripted: hold the request like a blocking query until the caller aborts.
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      );
    }
    return next();
  };
  return { calls, fetch };
}

const json = (body: unknown, index?: number) => () =>
  new Response(JSON.stringify(body), {
    status: 200,
    headers: index === undefined ? {} : { 'X-Nomad-Index': String(index) },
  });
const text =
  (status: number, body: string, code = '') =>
  () =>
    new Response(body, { status, headers: code ? { 'X-Drover-Error-Code': code } : {} });

function api(
  fetch: (url: string, init?: RequestInit) => Promise<Response>,
  errors: Array<[string, ApiError | undefined]> = [],
  sleeps: number[] = [],
) {
  return new Api({
    fetch,
    base: 'http://127.0.0.1:4646',
    wait: '30s',
    onWatchError: (k, e) => errors.push([k, e]),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
}

describe("the UI's API client", () => {
  it('follows a blocking query: index 0 first, then the index of each answer with the wait', async () => {
    const { calls, fetch } = scripted([json(['a'], 5), json(['a', 'b'], 9)]);
    const seen: Array<[unknown, number]> = [];
    const ac = new AbortController();
    const done = api(fetch).watch<string[]>('jobs', '/v1/jobs?namespace=*', ac.signal, (v, i) => {
      seen.push([v, i]);
      if (seen.length === 2) ac.abort();
    });
    await done;
    expect(seen).toEqual([
      [['a'], 5],
      [['a', 'b'], 9],
    ]);
    expect(
      calls.map((c) => [
        c.url.pathname,
        c.url.searchParams.get('namespace'),
        c.url.searchParams.get('index'),
        c.url.searchParams.get('wait'),
      ]),
    ).toEqual([
      ['/v1/jobs', '*', null, null],
      ['/v1/jobs', '*', '5', '30s'],
    ]);
  });

  it('does not redraw when a blocking query times out with the same index', async () => {
    const { calls, fetch } = scripted([json(['a'], 5), json(['a'], 5), json(['b'], 6)]);
    const seen: unknown[] = [];
    const ac = new AbortController();
    await api(fetch).watch('k', '/v1/jobs', ac.signal, (v) => {
      seen.push(v);
      if (seen.length === 2) ac.abort();
    });
    expect(seen).toEqual([['a'], ['b']]);
    expect(calls).toHaveLength(3);
  });

  it('starts over from index 0 when the index goes backwards (a new agent)', async () => {
    const { calls, fetch } = scripted([json(1, 50), json(2, 3), json(3, 4)]);
    const ac = new AbortController();
    let n = 0;
    await api(fetch).watch('k', '/v1/nodes', ac.signal, () => {
      if (++n === 3) ac.abort();
    });
    expect(calls.map((c) => c.url.searchParams.get('index'))).toEqual([null, '50', null]);
  });

  it('reports a failure with the status and the API text, retries, and clears it on success', async () => {
    const errors: Array<[string, ApiError | undefined]> = [];
    const sleeps: number[] = [];
    const { fetch } = scripted([
      text(404, 'job "nope" not found in namespace "default"', 'JobNotFound'),
      text(500, 'boom'),
      json({ ID: 'nope' }, 7),
    ]);
    const ac = new AbortController();
    await api(fetch, errors, sleeps).watch('job', '/v1/job/nope', ac.signal, () => ac.abort());
    expect(errors.map(([k, e]) => [k, e?.status, e?.text, e?.code])).toEqual([
      ['job', 404, 'job "nope" not found in namespace "default"', 'JobNotFound'],
      ['job', 500, 'boom', ''],
      ['job', undefined, undefined, undefined],
    ]);
    expect(sleeps).toEqual([5_000, 2_000]);
  });

  it('reports an agent that does not answer as status 0', async () => {
    const errors: Array<[string, ApiError | undefined]> = [];
    const { fetch } = scripted([() => Promise.reject(new TypeError('Failed to fetch'))]);
    const ac = new AbortController();
    const watching = api(fetch, errors).watch('k', '/v1/jobs', ac.signal, () => undefined);
    await expect.poll(() => errors.length).toBeGreaterThan(0);
    ac.abort();
    await watching;
    expect(errors[0]?.[1]).toMatchObject({
      status: 0,
      text: 'Failed to fetch',
      message: 'cannot reach the agent: Failed to fetch',
    });
  });

  it('polls gently an endpoint that answers without an index', async () => {
    const sleeps: number[] = [];
    const { calls, fetch } = scripted([json(['a']), json(['a'])]);
    const ac = new AbortController();
    const watching = api(fetch, [], sleeps).watch('k', '/v1/x', ac.signal, () => undefined);
    // The script runs out at the third request, which is then held like a blocking query.
    await expect.poll(() => calls.length, { timeout: 500, interval: 5 }).toBeGreaterThanOrEqual(3);
    ac.abort();
    await watching;
    expect(calls).toHaveLength(3);
    expect(sleeps).toEqual([3_000, 3_000]);
  });

  it('retries 4xx slowly and backs off other failures up to 10 seconds', () => {
    const e = (status: number) => new ApiError('GET', '/', status, '', '');
    expect(retryDelayMs(e(404), 1)).toBe(5_000);
    expect(retryDelayMs(e(500), 1)).toBe(1_000);
    expect(retryDelayMs(e(0), 3)).toBe(4_000);
    expect(retryDelayMs(e(503), 9)).toBe(10_000);
  });

  it('streams a text body as it arrives, across chunks that split a character', async () => {
    const bytes = new TextEncoder().encode('héllo\nwörld\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 2));
        c.enqueue(bytes.slice(2, 9));
        c.enqueue(bytes.slice(9));
        c.close();
      },
    });
    const { calls, fetch } = scripted([() => new Response(body, { status: 200 })]);
    let out = '';
    await api(fetch).stream(
      '/v1/client/fs/logs/a1',
      { task: 't', follow: 'true', plain: 'true' },
      new AbortController().signal,
      (t) => (out += t),
    );
    expect(out).toBe('héllo\nwörld\n');
    expect(Object.fromEntries(calls[0]!.url.searchParams)).toEqual({ task: 't', follow: 'true', plain: 'true' });
  });

  it('refuses a stream the API answered with an error, keeping its text', async () => {
    const { fetch } = scripted([text(404, 'allocation "a1" not found', 'AllocNotFound')]);
    await expect(
      api(fetch).stream('/v1/client/fs/logs/a1', {}, new AbortController().signal, () => undefined),
    ).rejects.toMatchObject({ status: 404, text: 'allocation "a1" not found' });
  });

  it('sends DELETE for a job stop and throws the API error when refused', async () => {
    const { calls, fetch } = scripted([json({ EvalID: 'e' }, 3), text(403, 'Permission denied')]);
    const a = api(fetch);
    await a.delete('/v1/job/web?namespace=default', new AbortController().signal);
    expect(calls[0]).toMatchObject({ method: 'DELETE' });
    expect(calls[0]?.url.search).toBe('?namespace=default');
    await expect(a.delete('/v1/job/web', new AbortController().signal)).rejects.toMatchObject({
      status: 403,
      text: 'Permission denied',
    });
  });
});

describe('the event stream', () => {
  it('hands over each batch as its line completes, skipping heartbeats, with the topics and index asked', async () => {
    const lines = [
      '{"Index":5,"Events":[{"Topic":"Allocation","Type":"AllocationUpdated","Key":"a1","Namespace":"default","Payload":{"Allocation":{"ID":"a1"}}}]}\n',
      '{}\n{"Index":6,"Ev',
      'ents":[]}\n',
    ];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const l of lines) c.enqueue(new TextEncoder().encode(l));
        c.close();
      },
    });
    const { calls, fetch } = scripted([() => new Response(body, { status: 200 })]);
    const got: number[] = [];
    await api(fetch).events(['Allocation', 'Node'], { index: 5, namespace: '*' }, new AbortController().signal, (b) =>
      got.push(b.Index),
    );
    expect(got).toEqual([5, 6]);
    expect(calls[0]!.url.pathname).toBe('/v1/event/stream');
    expect(calls[0]!.url.searchParams.getAll('topic')).toEqual(['Allocation', 'Node']);
    expect(calls[0]!.url.searchParams.get('index')).toBe('5');
    expect(calls[0]!.url.searchParams.get('namespace')).toBe('*');
  });

  it('rejects with the error line a stream ends with when the token is no longer allowed', async () => {
    const { fetch } = scripted([
      () => new Response('{"Error":"ACL token not found","Code":"ACLTokenNotFound"}\n', { status: 200 }),
    ]);
    await expect(
      api(fetch).events(['Allocation'], { index: 1 }, new AbortController().signal, () => undefined),
    ).rejects.toMatchObject({ status: 403, text: 'ACL token not found', code: 'ACLTokenNotFound' });
  });
});

describe('a list followed on the event stream', () => {
  interface Item {
    ID: string;
  }
  const batch = (index: number, id: string, type = 'AllocationUpdated') =>
    JSON.stringify({
      Index: index,
      Events: [
        {
          Topic: 'Allocation',
          Type: type,
          Key: id,
          Namespace: 'default',
          Index: index,
          Payload: { Allocation: { ID: id } },
        },
      ],
    }) + '\n';
  const stream = (lines: string[]) => () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          for (const l of lines) c.enqueue(new TextEncoder().encode(l));
          c.close();
        },
      }),
      { status: 200 },
    );
  const opts = {
    key: 'allocations',
    path: '/v1/allocations',
    topics: ['Allocation'],
    namespace: '*',
    coalesceMs: 20,
    id: (a: Item) => a.ID,
    item: (e: { Type: string; Payload: Record<string, unknown> }) => {
      const a = e.Payload['Allocation'] as Item | undefined;
      return a ? { id: a.ID, value: a, deleted: e.Type === 'AllocationDeleted' } : undefined;
    },
  };
  const where = (calls: Call[]) =>
    calls.map(
      (c) => `${c.url.pathname}${c.url.searchParams.has('index') ? `@${c.url.searchParams.get('index')}` : ''}`,
    );

  it('applies a burst of batches as one redraw', async () => {
    const { fetch } = scripted([
      json([{ ID: 'a' }], 10),
      stream([batch(11, 'b'), batch(12, 'c'), batch(13, 'a', 'AllocationDeleted')]),
    ]);
    const seen: string[][] = [];
    const ac = new AbortController();
    await api(fetch).followList<Item>(opts, ac.signal, (v) => {
      seen.push(v.map((a) => a.ID));
      if (seen.length === 2) ac.abort();
    });
    expect(seen).toEqual([['a'], ['b', 'c']]);
  });

  it('draws a lone change at once, the burst after it together', async () => {
    let clock = 0;
    const lines = [batch(11, 'b'), batch(12, 'c'), batch(13, 'd')];
    // Made when asked for: a stream pulls its first chunk as soon as it exists.
    const body = () =>
      new ReadableStream<Uint8Array>({
        pull(c) {
          const l = lines.shift();
          if (l === undefined) return c.close();
          if (l.includes('"b"')) clock += 1_000; // the first change comes long after the list was drawn
          c.enqueue(new TextEncoder().encode(l));
        },
      });
    const { fetch } = scripted([json([{ ID: 'a' }], 10), () => new Response(body(), { status: 200 })]);
    const seen: string[][] = [];
    const ac = new AbortController();
    const client = new Api({ fetch, base: 'http://127.0.0.1:4646', now: () => clock, sleep: async () => undefined });
    await client.followList<Item>({ ...opts, coalesceMs: 250 }, ac.signal, (v) => {
      seen.push(v.map((a) => a.ID));
      if (seen.length === 3) ac.abort();
    });
    expect(seen).toEqual([['a'], ['a', 'b'], ['a', 'b', 'c', 'd']]);
  });

  it('follows the list with blocking queries when the stream is refused, not a 5-second poll', async () => {
    const { calls, fetch } = scripted([
      json([{ ID: 'a' }], 10),
      text(403, 'Permission denied'),
      json([{ ID: 'a' }], 10),
      json([{ ID: 'a' }, { ID: 'b' }], 12),
    ]);
    const seen: string[][] = [];
    const sleeps: number[] = [];
    const ac = new AbortController();
    await api(fetch, [], sleeps).followList<Item>(opts, ac.signal, (v) => {
      seen.push(v.map((a) => a.ID));
      if (seen.length === 3) ac.abort();
    });
    expect(seen).toEqual([['a'], ['a'], ['a', 'b']]);
    expect(where(calls)).toEqual(['/v1/allocations', '/v1/event/stream@11', '/v1/allocations', '/v1/allocations@10']);
    expect(sleeps).toEqual([]);
  });

  it('backs off a stream that keeps breaking even though each list read works', async () => {
    const { fetch } = scripted([
      json([], 10),
      text(500, 'boom'),
      json([], 10),
      text(500, 'boom'),
      json([], 10),
      text(500, 'boom'),
    ]);
    const sleeps: number[] = [];
    const ac = new AbortController();
    const done = api(fetch, [], sleeps).followList<Item>(opts, ac.signal, () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await done;
    expect(sleeps).toEqual([1_000, 2_000, 4_000]);
  });

  it('reads the list again, once, when the first batch skips indexes (events may be lost)', async () => {
    const { calls, fetch } = scripted([
      json([{ ID: 'a' }], 10),
      stream([batch(15, 'x')]),
      json([{ ID: 'a' }, { ID: 'x' }], 16),
      stream([batch(20, 'y')]),
    ]);
    const seen: string[][] = [];
    const ac = new AbortController();
    await api(fetch).followList<Item>(opts, ac.signal, (v) => {
      seen.push(v.map((a) => a.ID));
      if (seen.length === 3) ac.abort();
    });
    expect(seen).toEqual([['a'], ['a', 'x'], ['a', 'x', 'y']]);
    expect(where(calls)).toEqual(['/v1/allocations', '/v1/event/stream@11', '/v1/allocations', '/v1/event/stream@17']);
  });
});
