import { describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { encodeJson, sendJson } from './reply.js';

describe('encodeJson', () => {
  it('encodes lists of frozen, unfrozen and primitive elements exactly as JSON.stringify does', () => {
    const frozen = Array.from({ length: 10 }, (_, i) =>
      Object.freeze({ ID: `a${i}`, Tasks: { t: { State: 'running' } }, Gone: undefined }),
    );
    const mixed = [...frozen, { ID: 'plain' }, null, 3, 'x', undefined];
    expect(encodeJson(mixed).toString()).toBe(JSON.stringify(mixed));
    expect(encodeJson(frozen.slice(0, 3)).toString()).toBe(JSON.stringify(frozen.slice(0, 3)));
    expect(encodeJson({ a: 1 }).toString()).toBe('{"a":1}');
    expect(encodeJson(undefined).toString()).toBe('null');
    expect(encodeJson([]).toString()).toBe('[]');
  });

  it('serialises a frozen list element once, however often the list is answered', () => {
    let calls = 0;
    const el = (i: number) =>
      Object.freeze({
        toJSON() {
          calls++;
          return { ID: i };
        },
      });
    const list = Array.from({ length: 20 }, (_, i) => el(i));
    const first = encodeJson(list).toString();
    const second = encodeJson([...list].reverse()).toString();
    expect(calls).toBe(20);
    expect(JSON.parse(first)).toEqual(list.map((_, i) => ({ ID: i })));
    expect(JSON.parse(second)[0]).toEqual({ ID: 19 });
  });
});

describe('encodeJson of a frozen list', () => {
  it('encodes a frozen list once and answers later requests with the same bytes', () => {
    let calls = 0;
    const el = Object.freeze({
      toJSON() {
        calls++;
        return 1;
      },
    });
    const list = Object.freeze([el, { plain: true }]);
    const a = encodeJson(list);
    const b = encodeJson(list);
    expect(b).toBe(a);
    expect(a.toString()).toBe('[1,{"plain":true}]');
    expect(calls).toBe(1);
  });
});

/**
 * Sends `requests` one after another on one connection, each after the previous answer arrived in full; a
 * string holding several requests is sent in one write (pipelined) and waits for as many answers. The answer
 * to a HEAD has no body, whatever its Content-Length says.
 */
async function exchange(port: number, requests: string[]): Promise<{ head: string; body: string }[]> {
  const socket = connect(port, '127.0.0.1');
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (b: Buffer) => {
    buffered = Buffer.concat([buffered, b]);
    wake?.();
  });
  socket.on('end', () => wake?.());
  const out: { head: string; body: string }[] = [];
  try {
    for (const r of requests) {
      socket.write(r);
      const methods = [...r.matchAll(/^([A-Z]+) \S+ HTTP\/1\.\d\r\n/gm)].map((m) => m[1]);
      for (const method of methods)
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          const declared = /content-length: (\d+)/i.exec(buffered.subarray(0, Math.max(end, 0)).toString())?.[1];
          const len = end < 0 ? -1 : method === 'HEAD' ? 0 : Number(declared);
          if (end >= 0 && buffered.length >= end + 4 + len) {
            out.push({
              head: buffered.subarray(0, end).toString('latin1'),
              body: buffered.subarray(end + 4, end + 4 + len).toString('utf8'),
            });
            buffered = buffered.subarray(end + 4 + len);
            break;
          }
          if (socket.readableEnded) throw new Error(`connection ended after ${out.length} answers`);
          await new Promise<void>((r) => (wake = r));
        }
    }
    return out;
  } finally {
    socket.destroy();
  }
}

describe('sendJson with a prepared response', () => {
  /** A server answering every request with sendJson of `answer()`; `raw` sends bytes on one socket and reads. */
  async function serve(
    answer: (req: IncomingMessage) => { body: unknown; index?: number; extra?: Record<string, string> },
  ) {
    const server = createServer((req, res) => {
      const a = answer(req);
      sendJson(res, 200, a.body, a.index, a.extra);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    return { server, port };
  }

  /** The header block as a map (names lower-cased) and its status line, without the Date's value. */
  const parse = (head: string) => {
    const [status, ...lines] = head.split('\r\n');
    const map = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 2)]),
    );
    expect(map.date).toMatch(/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
    delete map.date;
    return { status, headers: map };
  };

  it('writes the same status, headers and body as the ordinary path, and keeps the connection open', async () => {
    const list = Object.freeze(Array.from({ length: 10 }, (_, i) => Object.freeze({ ID: `v${i}`, Note: 'é→✓' })));
    let contact = 0;
    const { server, port } = await serve((req) => ({
      // A thawed copy takes node:http's ordinary path; the frozen list the prepared one.
      body: req.url === '/plain' ? [...list] : list,
      index: 42,
      extra: { 'X-Nomad-KnownLeader': 'true', 'X-Nomad-LastContact': String(contact++ * 7) },
    }));
    try {
      const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
      const answers = await exchange(port, [get('/plain'), get('/frozen'), get('/frozen'), get('/plain')]);
      expect(answers).toHaveLength(4);
      const [plain, first, second, plainAgain] = answers.map((a) => ({ ...parse(a.head), body: a.body }));
      expect(plain!.body).toBe(JSON.stringify(list));
      expect(first!.body).toBe(plain!.body);
      expect(second!.body).toBe(plain!.body);
      expect(plain!.status).toBe('HTTP/1.1 200 OK');
      expect(first!.status).toBe('HTTP/1.1 200 OK');
      // The per-answer LastContact is this answer's own; everything else is what writeHead wrote.
      expect(first!.headers).toEqual({ ...plain!.headers, 'x-nomad-lastcontact': '7' });
      expect(second!.headers).toEqual({ ...plain!.headers, 'x-nomad-lastcontact': '14' });
      expect(plainAgain!.headers).toEqual({ ...plain!.headers, 'x-nomad-lastcontact': '21' });
      expect(plain!.headers).toMatchObject({ 'x-nomad-index': '42', connection: 'keep-alive' });
      // The prepared answers (their one varying header is written last, before node:http's Date), the others not.
      expect(answers.map((a) => /LastContact: \d+\r\nDate: /.test(a.head))).toEqual([false, true, true, false]);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });

  it('leaves a request that closes its connection (HTTP/1.0 too) to node:http', async () => {
    const list = Object.freeze(Array.from({ length: 10 }, (_, i) => Object.freeze({ ID: `v${i}` })));
    const { server, port } = await serve(() => ({ body: list, index: 3 }));
    try {
      const [closing] = await exchange(port, ['GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
      expect(parse(closing!.head).headers).toMatchObject({ connection: 'close', 'x-nomad-index': '3' });
      expect(closing!.body).toBe(JSON.stringify(list));
      const [old] = await exchange(port, ['GET / HTTP/1.0\r\n\r\n']);
      expect(old!.head.startsWith('HTTP/1.1 200 OK')).toBe(true);
      expect(parse(old!.head).headers).toMatchObject({ connection: 'close' });
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});

describe('sendJson with a prepared response, HEAD and pipelined requests', () => {
  const list = Object.freeze(Array.from({ length: 10 }, (_, i) => Object.freeze({ ID: `v${i}`, Note: 'é→✓' })));
  /**
   * Answers /frozen with the frozen list (the prepared path when it applies), anything else with a thawed copy.
   * A request with `?hold` is answered only after the next request was answered: node:http then holds that
   * next answer back (a pipelined answer waits for the one before it), the case of a response without a socket.
   */
  async function serve() {
    const held: (() => void)[] = [];
    const server = createServer((req, res) => {
      const answer = () =>
        sendJson(res, 200, req.url?.startsWith('/frozen') ? list : [...list], 42, { 'X-Nomad-LastContact': '5' });
      if (req.url?.endsWith('?hold')) return void held.push(answer);
      answer();
      for (const h of held.splice(0)) h();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, port: (server.address() as AddressInfo).port };
  }
  const request = (method: string, path: string) => `${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
  /**
   * An answer as a client reads it: the status line, the header lines in name order (the prepared path writes
   * X-Nomad-LastContact last, the one place its bytes differ) without the Date's value, and the body.
   */
  const undated = (a: { head: string; body: string }) => {
    const [status, ...lines] = a.head.split('\r\n');
    const headers = lines.map((l) => (l.startsWith('Date: ') ? 'Date: -' : l)).sort();
    return { status, headers, body: a.body };
  };
  /** Whether an answer came from the prepared path: its LastContact is written just before node:http's Date. */
  const isPrepared = (a: { head: string }) => /LastContact: \d+\r\nDate: /.test(a.head);

  it('answers a HEAD exactly as the ordinary path does: the GET headers, no body, the connection kept', async () => {
    const { server, port } = await serve();
    try {
      const answers = await exchange(port, [
        request('HEAD', '/plain'),
        request('HEAD', '/frozen'),
        request('GET', '/frozen'),
        request('HEAD', '/frozen'),
      ]);
      const [plain, frozen, get, again] = answers.map(undated);
      expect(frozen).toEqual(plain);
      expect(again).toEqual(plain);
      expect(plain!.body).toBe('');
      expect(plain!.headers).toContain(`Content-Length: ${Buffer.byteLength(JSON.stringify(list))}`);
      // The GET between them (the prepared path) has the same headers, with its body.
      expect(answers.map(isPrepared)).toEqual([false, false, true, false]);
      expect(get).toEqual({ ...plain, body: JSON.stringify(list) });
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });

  it('answers requests pipelined in one write in order, each exactly as the ordinary path does', async () => {
    const { server, port } = await serve();
    try {
      const ordinary = (await exchange(port, [request('GET', '/plain')])).map(undated)[0]!;
      const orders = [
        ['/frozen', '/frozen'],
        ['/plain', '/frozen'],
        ['/frozen', '/plain'],
        ['/frozen?a', '/frozen?b', '/plain', '/frozen?c'],
        // The second answer is written while the first is still unanswered, so node:http queues it.
        ['/frozen?hold', '/frozen'],
        ['/plain?hold', '/frozen'],
        ['/frozen?hold', '/plain'],
      ];
      for (const paths of orders) {
        const answers = await exchange(port, [paths.map((p) => request('GET', p)).join('')]);
        expect(answers.map(undated)).toEqual(paths.map(() => ordinary));
        expect(answers.map(isPrepared)).toEqual(paths.map((p) => p.startsWith('/frozen')));
      }
      // A HEAD between pipelined GETs: its answer has no body, and the GET after it is read whole.
      const mixed = await exchange(port, [
        request('GET', '/frozen') + request('HEAD', '/frozen') + request('GET', '/frozen'),
        request('HEAD', '/frozen?hold') + request('GET', '/frozen'),
      ]);
      expect(mixed.map(undated)).toEqual([
        ordinary,
        { ...ordinary, body: '' },
        ordinary,
        { ...ordinary, body: '' },
        ordinary,
      ]);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});

describe('sendJson of a small answer', () => {
  const cases: Record<string, { status: number; body: unknown; index?: number; extra?: Record<string, string> }> = {
    '/register': { status: 200, body: { EvalID: 'e1', EvalCreateIndex: 7, JobModifyIndex: 7, Warnings: '' }, index: 7 },
    '/no-index': { status: 200, body: { Name: 'n' } },
    '/standby': {
      status: 200,
      body: { ID: 'j' },
      index: 9,
      extra: { 'X-Nomad-NextToken': 'b', 'X-Nomad-KnownLeader': 'false', 'X-Nomad-LastContact': '12' },
    },
    '/utf8': { status: 200, body: { Note: 'é→✓ \u{1f600}' }, index: 3 },
    '/short-list': { status: 201, body: ['a', 1, null], index: 4 },
    '/null': { status: 200, body: undefined },
    // Left to the ordinary path (a header with connection meaning, in lower case): not in the one-write test.
    '/close-extra': { status: 200, body: { ID: 'j' }, index: 5, extra: { connection: 'close' } },
  };
  /** Each path answered by sendJson, and by writeHead and end(bytes) with the headers the ordinary path builds under `/ordinary`. */
  async function serve() {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').replace(/^\/ordinary/, '');
      const c = cases[path]!;
      if (!req.url!.startsWith('/ordinary')) return sendJson(res, c.status, c.body, c.index, c.extra);
      const bytes = Buffer.from(JSON.stringify(c.body ?? null));
      const headers: Record<string, string | number> = {
        ...c.extra,
        'Content-Type': 'application/json',
        'Content-Length': bytes.length,
      };
      if (c.index !== undefined) {
        headers['X-Nomad-Index'] = c.index;
        headers['X-Nomad-KnownLeader'] ??= 'true';
        headers['X-Nomad-LastContact'] ??= 0;
      }
      res.writeHead(c.status, headers);
      res.end(bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, port: (server.address() as AddressInfo).port };
  }
  const undated = (a: { head: string; body: string }) => ({ ...a, head: a.head.replace(/\r\nDate: [^\r]+/, '') });

  it('writes the bytes writeHead and end would, in one socket write', async () => {
    const { server, port } = await serve();
    const socketWrites: string[] = [];
    server.on('connection', (s) => {
      const w = s as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
      for (const f of ['_write', '_writev'] as const) {
        const orig = w[f]!.bind(s);
        w[f] = (...a: unknown[]) => (socketWrites.push(f), orig(...a));
      }
    });
    try {
      const oneWrite = Object.keys(cases).filter((p) => p !== '/close-extra');
      for (const [path, method] of oneWrite.flatMap((p) => [[p, 'GET'] as const, [p, 'PUT'] as const])) {
        const req = (p: string) => `${method} ${p} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`;
        const [ordinary] = await exchange(port, [req(`/ordinary${path}`)]);
        socketWrites.length = 0;
        const [small] = await exchange(port, [req(path)]);
        expect(socketWrites, `${method} ${path}`).toEqual(['_write']);
        expect(undated(small!), `${method} ${path}`).toEqual(undated(ordinary!));
      }
      // The ordinary path writes the header block and the body apart (what this path saves).
      socketWrites.length = 0;
      await exchange(port, ['GET /ordinary/register HTTP/1.1\r\nHost: x\r\n\r\n']);
      expect(socketWrites).toEqual(['_writev']);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });

  it('leaves HEAD, HTTP/1.0, closing and pipelined-behind requests as the ordinary path answers them', async () => {
    const { server, port } = await serve();
    try {
      const pairs = [
        ['HEAD /register HTTP/1.1\r\nHost: x\r\n\r\n', 'HEAD /ordinary/register HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['GET /register HTTP/1.0\r\n\r\n', 'GET /ordinary/register HTTP/1.0\r\n\r\n'],
        ['GET /close-extra HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /ordinary/close-extra HTTP/1.1\r\nHost: x\r\n\r\n'],
        [
          'GET /register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
          'GET /ordinary/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        ],
      ];
      for (const [mine, theirs] of pairs) {
        const [a] = await exchange(port, [mine!]);
        const [b] = await exchange(port, [theirs!]);
        expect(undated(a!)).toEqual(undated(b!));
      }
      const get = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
      const piped = await exchange(port, [get('/register') + get('/utf8') + get('/ordinary/utf8') + get('/standby')]);
      const ordinary = await exchange(port, [
        get('/ordinary/register'),
        get('/ordinary/utf8'),
        get('/ordinary/standby'),
      ]);
      expect(piped.map(undated)).toEqual([ordinary[0], ordinary[1], ordinary[1], ordinary[2]].map((a) => undated(a!)));
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});
