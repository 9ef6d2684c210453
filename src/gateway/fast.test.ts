import { connect, createServer, Socket, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { ChunkedReader, dateHeaderLine, parseRequestHead, parseResponseHead } from './fast.js';
import { startGateway } from './gateway.js';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.js';
import { MemorySource } from './memory-source.js';
import { pooledIdleLimitMs } from './backend.js';
import { get, instance, selfSigned, startBackend } from './test-support.js';
import type { Gateway, GatewayInstance, GatewayOptions } from './types.js';

const origWrite = Socket.prototype.write;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function gateway(instances: GatewayInstance[], over: Partial<GatewayOptions> = {}): Promise<Gateway> {
  const gw = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    source: new MemorySource(instances),
    logger: nullLogger,
    ...over,
  });
  cleanups.push(() => gw.close(200));
  await gw.ready(AbortSignal.timeout(2000));
  return gw;
}

/** A backend speaking raw HTTP: `answer` gets each request head (bodiless requests) and writes what it likes. */
async function rawBackend(answer: (head: string, sock: Socket) => void): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        heads.push(head);
        answer(head, sock);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, heads };
}

/** A raw client connection: what it received so far, and whether the gateway closed it. */
interface RawClient {
  sock: Socket;
  text(): string;
  bytes(): number;
  closed(): boolean;
}

async function rawClient(port: number): Promise<RawClient> {
  const sock = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let n = 0;
  let closed = false;
  sock.on('data', (d: Buffer) => {
    chunks.push(d);
    n += d.length;
  });
  sock.on('error', () => {});
  sock.on('close', () => (closed = true));
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  cleanups.push(() => void sock.destroy());
  return { sock, text: () => Buffer.concat(chunks).toString('latin1'), bytes: () => n, closed: () => closed };
}

const count = (s: string, part: string) => s.split(part).length - 1;
/** What the gateway adds to every keep-alive response head, as node:http's server. */
const KA = 'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n';
const DATE = /Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n/g;
/** `text` with the Date lines the gateway adds taken out, after checking there is one per response head. */
function undated(text: string): string {
  expect(count(text, 'Date: ')).toBe(count(text, 'HTTP/1.1 '));
  return text.replace(DATE, '');
}
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('parseRequestHead', () => {
  const ok = 'GET /a HTTP/1.1\r\nHost: x';

  it('reads a plain request and keeps its headers in order', () => {
    expect(parseRequestHead(`${ok}\r\nAccept:  */* \r\nConnection: close`)).toEqual({
      method: 'GET',
      target: '/a',
      host: 'x',
      raw: ['Host', 'x', 'Accept', '*/*', 'Connection', 'close'],
      close: true,
    });
  });

  it.each([
    ['Content-Length and Transfer-Encoding', `${ok}\r\nContent-Length: 0\r\nTransfer-Encoding: chunked`],
    ['Transfer-Encoding and Content-Length', `${ok}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3`],
    ['a duplicate Content-Length', `${ok}\r\nContent-Length: 0\r\nContent-Length: 0`],
    ['a non-numeric Content-Length', `${ok}\r\nContent-Length: 0x0`],
    ['a signed Content-Length', `${ok}\r\nContent-Length: +0`],
    ['a list as Content-Length', `${ok}\r\nContent-Length: 0, 0`],
    ['obs-fold', `${ok}\r\nX-A: 1\r\n  folded`],
    ['a bare LF', `${ok}\nX-A: 1`],
    ['a bare CR', `${ok}\r\nX-A: 1\rX-B: 2`],
    ['whitespace before the colon', `${ok}\r\nContent-Length : 5`],
    ['a header name with a space', `${ok}\r\nX A: 1`],
    ['an empty header name', `${ok}\r\n: 1`],
    ['a control character in a value', `${ok}\r\nX-A: a\x00b`],
    ['a duplicate Host', `${ok}\r\nHost: y`],
  ])('refuses %s', (_what, head) => {
    expect(parseRequestHead(head)).toBe('bad');
  });

  it.each([
    ['a body', `${ok}\r\nContent-Length: 5`],
    ['chunked', `${ok}\r\nTransfer-Encoding: chunked`],
    ['an upgrade', `${ok}\r\nConnection: Upgrade\r\nUpgrade: websocket`],
    ['Expect', `${ok}\r\nExpect: 100-continue`],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: x'],
    ['no Host', 'GET / HTTP/1.1\r\nAccept: */*'],
    ['an absolute-form target', 'GET http://x/ HTTP/1.1\r\nHost: x'],
    ['CONNECT', 'CONNECT x:443 HTTP/1.1\r\nHost: x'],
    ['an odd method', 'PROPFIND / HTTP/1.1\r\nHost: x'],
  ])('leaves %s to node:http', (_what, head) => {
    expect(parseRequestHead(head)).toBe('fallback');
  });

  it('takes Content-Length: 0 as no body', () => {
    expect(parseRequestHead(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0`)).toMatchObject({ method: 'POST' });
  });
});

describe('parseResponseHead', () => {
  it.each([
    ['Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked'],
    ['a Transfer-Encoding other than chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked'],
    ['two differing Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4'],
    ['a non-numeric Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 3a'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded'],
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 3'],
    ['a bad status line', 'HTTP/1.1 20 OK'],
  ])('refuses %s', (_what, head) => {
    expect(parseResponseHead(head, 'GET', false)).toBeUndefined();
  });

  it('frames by method and status, and drops the hop-by-hop headers', () => {
    const cl = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5';
    expect(parseResponseHead(cl, 'GET', false)).toEqual({
      status: 200,
      text: expect.stringMatching(/^HTTP\/1\.1 200 OK\r\nContent-Length: 3\r\nDate: [^\r]+ GMT\r\n/),
      framing: 'length',
      length: 3,
      close: false,
      idleLimitMs: 4000,
    });
    expect(undated(parseResponseHead(cl, 'GET', false)!.text)).toBe(
      `HTTP/1.1 200 OK\r\nContent-Length: 3\r\n${KA}\r\n`,
    );
    expect(parseResponseHead(cl, 'HEAD', false)?.framing).toBe('none');
    expect(parseResponseHead('HTTP/1.1 204 No Content', 'GET', false)?.framing).toBe('none');
    expect(parseResponseHead('HTTP/1.1 304 Not Modified\r\nContent-Length: 9', 'GET', false)?.framing).toBe('none');
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked', 'GET', false)?.framing).toBe('chunked');
    const close = parseResponseHead('HTTP/1.1 200 OK', 'GET', false)!;
    expect(close).toMatchObject({ framing: 'close', close: true });
    expect(undated(close.text)).toBe('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
    expect(parseResponseHead('HTTP/1.0 200 OK\r\nContent-Length: 0', 'GET', false)?.close).toBe(true);
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close', 'GET', false)?.close).toBe(
      true,
    );
  });
});

describe('Connection-listed headers', () => {
  it('are dropped from responses on both paths, and never drop Host, X-Forwarded-* or framing from requests', () => {
    const res = parseResponseHead(
      'HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\nContent-Length: 0',
      'GET',
      false,
    )!;
    expect(undated(res.text)).toBe(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${KA}\r\n`);
    // A Date the instance's Connection header names is dropped, and the gateway's own takes its place.
    const dated = parseResponseHead(
      'HTTP/1.1 200 OK\r\nConnection: Date\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nContent-Length: 0',
      'GET',
      false,
    )!;
    expect(dated.text).not.toContain('2001');
    expect(undated(dated.text)).toBe(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${KA}\r\n`);
    expect(forwardResponseHeaders(['Connection', 'X-Secret', 'X-Secret', '1', 'X-A', '2'])).toEqual(['X-A', '2']);
    const raw = ['Host', 'h', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'o', 'X-Real-IP', '10.0.0.1'];
    const out = forwardRequestHeaders(
      [...raw, 'X-Drop', '1', 'Connection', 'host, x-forwarded-proto, X-Forwarded-Host, x-real-ip, x-drop'],
      { remoteAddress: '127.0.0.1', upgrade: false, body: false },
    );
    expect(out).toEqual([...raw, 'X-Forwarded-For', '127.0.0.1']);
  });
});

describe('ChunkedReader', () => {
  const body = Buffer.from('5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT');
  const end = body.length - 4;

  it('finds the end of a chunked body with trailers, whatever the split', () => {
    for (let split = 0; split <= body.length; split++) {
      const r = new ChunkedReader();
      const a = r.feed(body.subarray(0, split), 0);
      if (split >= end) {
        expect(a).toBe(end);
        continue;
      }
      expect(a).toBe(-1);
      expect(r.feed(body.subarray(split), 0)).toBe(end - split);
    }
    const bytewise = new ChunkedReader();
    let at = -1;
    for (let i = 0; i < body.length && at < 0; i++) at = bytewise.feed(body.subarray(i, i + 1), 0);
    expect(bytewise.done).toBe(true);
    expect(at).toBe(1);
  });

  it.each([
    ['a non-hex size', 'x\r\n'],
    ['a bare LF after the size', '5\nhello\r\n'],
    ['data longer than its size', '2\r\nabc\r\n'],
    ['a size too large', '20000000000000\r\n'],
    ['a 64-bit size', 'ffffffffffffffff\r\n'],
    ['a bare LF in the trailers', '0\r\nX: 1\n\r\n'],
    ['a character after the size', '5x\r\nhello\r\n'],
    ['a second number after whitespace', '5 1\r\nhello\r\n'],
    ['a control character in an extension', '5;a\x01b\r\nhello\r\n'],
    ['an extension name that is no token', '5;a/b\r\nhello\r\n'],
    ['a trailer without a colon', '0\r\nX-T 1\r\n\r\n'],
    ['a trailer with a control character', '0\r\nX-T: a\x7fb\r\n\r\n'],
    ['a folded trailer', '0\r\nX-T: 1\r\n 2\r\n\r\n'],
  ])('refuses %s', (_what, text) => {
    expect(new ChunkedReader().feed(Buffer.from(text), 0)).toBe(-2);
  });

  it.each([
    ['leading zeros', '0000000000005\r\nhello\r\n0\r\n\r\n'],
    ['whitespace and extensions', '5 ; a=1;b="x y" \r\nhello\r\n0;last\r\n\r\n'],
    ['a trailer', '1\r\na\r\n0\r\nX-T:  v \r\n\r\n'],
  ])('accepts %s', (_what, text) => {
    expect(new ChunkedReader().feed(Buffer.from(text), 0)).toBe(text.length);
  });
});

describe('the fast path in the gateway', () => {
  it('proxies pipelined requests in order with the forwarded headers, over one instance connection', async () => {
    const b = await rawBackend((head, sock) => {
      const path = head.split(' ')[1]!;
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
    });
    const gw = await gateway([instance('a', b.port, ['urlprefix-/api strip=/api'])]);
    const c = await rawClient(gw.port);
    c.sock.write(
      'GET /api/one HTTP/1.1\r\nHost: h\r\n\r\nGET /api/two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    );
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    const text = c.text();
    expect(text.indexOf('/one')).toBeGreaterThan(0);
    expect(text.indexOf('/two')).toBeGreaterThan(text.indexOf('/one'));
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(2);
    expect(text).toContain('Connection: close');
    expect(b.heads).toHaveLength(2);
    expect(b.heads[0]).toMatch(/^GET \/one HTTP\/1\.1\r\n/);
    expect(b.heads[0]).toContain('X-Forwarded-For: 127.0.0.1');
    expect(b.heads[0]).toContain('X-Forwarded-Proto: http');
    expect(b.heads[0]).toContain('X-Forwarded-Host: h');
    expect(b.heads[0]).toContain('X-Real-IP: 127.0.0.1');
    expect(b.heads[1]).not.toMatch(/connection/i);
  });

  // The two writes may still reach the gateway as one read (TCP coalesces); the head search across reads is
  // covered by the byte-by-byte test below and ChunkedReader's split tests.
  it('serves a request written in two parts, split at every position', async () => {
    const b = await rawBackend((_head, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const req = 'GET /x HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n';
    const c = await rawClient(gw.port);
    for (let split = 1; split < req.length; split++) {
      const before = c.bytes();
      c.sock.write(req.slice(0, split));
      await tick();
      c.sock.write(req.slice(split));
      await expect.poll(() => c.bytes() > before && c.text().endsWith('ok'), { timeout: 3000 }).toBe(true);
    }
    expect(count(c.text(), 'HTTP/1.1 200 OK')).toBe(req.length - 1);
    expect(b.heads).toHaveLength(req.length - 1);
  });

  it('refuses request-smuggling heads with 400 and closes, sending nothing to the instance', async () => {
    const b = await rawBackend((_head, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const bad = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
    for (const [head, answer] of [
      ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', bad],
      ['GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n', bad],
      ['GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n', bad],
      ['GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n', bad],
      [
        `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
      ],
    ]) {
      const c = await rawClient(gw.port);
      c.sock.write(head!);
      await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
      expect(c.text()).toBe(answer);
    }
    expect(b.heads).toHaveLength(0);
  });

  it('hands requests it does not serve to node:http, and the connection stays there', async () => {
    const echo = await startBackend('echo');
    cleanups.push(() => echo.close());
    const gw = await gateway([instance('a', echo.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write('GET /first HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => c.text().endsWith('}'), { timeout: 3000 }).toBe(true);
    // The fast path's request to the instance carries no Connection header; node:http's client adds one.
    expect(c.text()).not.toContain('"connection"');
    c.sock.write('POST /second HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello');
    c.sock.write('GET /third HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    const text = c.text();
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(3);
    expect(text).toContain('"body":"hello"');
    expect(text).toMatch(/"url":"\/third".*"connection":"keep-alive"/);
  });

  it('passes chunked responses with trailers through, split at every byte, and the connection goes on', async () => {
    const response = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n';
    const b = await rawBackend((_head, sock) => {
      for (let i = 0; i < response.length; i++) sock.write(response[i]!);
    });
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => c.text().endsWith('X-T: 1\r\n\r\n'), { timeout: 3000 }).toBe(true);
    c.sock.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    expect(count(c.text(), '3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n')).toBe(2);
  });

  it('sends no body for HEAD, 204 and 304, whatever Content-Length says', async () => {
    const b = await rawBackend((head, sock) => {
      if (head.startsWith('HEAD')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
      else if (head.includes('/204')) sock.write('HTTP/1.1 204 No Content\r\n\r\n');
      else sock.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n');
    });
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write('HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /204 HTTP/1.1\r\nHost: h\r\n\r\n');
    c.sock.write('GET /304 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    expect(undated(c.text())).toBe(
      `HTTP/1.1 200 OK\r\nContent-Length: 100\r\n${KA}\r\nHTTP/1.1 204 No Content\r\n${KA}\r\n` +
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nConnection: close\r\n\r\n',
    );
    expect(b.heads).toHaveLength(3);
  });

  it('cuts the client when the instance closes mid-body, and answers 502 to a malformed response', async () => {
    const b = await rawBackend((head, sock) => {
      if (head.includes('/cut')) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      else sock.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    });
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write('GET /cut HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    expect(undated(c.text())).toBe(`HTTP/1.1 200 OK\r\nContent-Length: 10\r\n${KA}\r\nabc`);
    const r = await get(gw.port, '/smuggle');
    expect(r.status).toBe(502);
    expect(r.body).toContain('invalid response head');
  });

  it('ends the client connection after a response framed by the instance closing', async () => {
    const b = await rawBackend((_head, sock) => sock.end('HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall of it'));
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    expect(undated(c.text())).toBe('HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\nall of it');
  });

  it('streams a large response as it comes rather than buffering it', async () => {
    const half = Buffer.alloc(4 << 20, 'a');
    let rest: (() => void) | undefined;
    const b = await rawBackend((_head, sock) => {
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${2 * half.length}\r\n\r\n`);
      sock.write(half);
      rest = () => sock.write(half);
    });
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    // The second half is only sent once the client has the first: a buffering proxy would never answer.
    await expect.poll(() => c.bytes() > half.length, { timeout: 5000 }).toBe(true);
    rest!();
    await expect.poll(() => c.bytes() > 2 * half.length, { timeout: 5000 }).toBe(true);
    c.sock.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => b.heads.length, { timeout: 3000 }).toBe(2);
  });

  it('resends an idempotent request to another instance when a pooled connection closes unanswered', async () => {
    const a = await rawBackend((_head, sock) => {
      // A's second request arrives on its pooled connection, which closes without an answer (as an instance
      // timing out its idle connection at that instant); the gateway resends the GET to B.
      if (a.heads.length === 2) sock.destroy();
      else sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na');
    });
    const b = await rawBackend((_head, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb'));
    const gw = await gateway([instance('a', a.port, ['urlprefix-/']), instance('b', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    for (let i = 1; i <= 3; i++) {
      c.sock.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
      await expect.poll(() => count(c.text(), 'HTTP/1.1 200 OK'), { timeout: 3000 }).toBe(i);
    }
    const answer = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: 1\r\n${KA}\r\n${body}`;
    expect(undated(c.text())).toBe(answer('a') + answer('b') + answer('b'));
    expect(a.heads).toHaveLength(2);
    expect(b.heads).toHaveLength(2);
    expect(gw.routes()[0]!.Targets.map((t) => t.Active)).toEqual([0, 0]);
  });

  it('answers 504 when the instance does not answer in time, and the connection goes on', async () => {
    const b = await rawBackend((head, sock) => {
      if (!head.includes('/slow')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])], { responseTimeoutMs: 100 });
    const c = await rawClient(gw.port);
    c.sock.write('GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /fast HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => c.text().endsWith('ok'), { timeout: 3000 }).toBe(true);
    expect(c.text()).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n[^]*reason: upstream_timeout[^]*HTTP\/1\.1 200 OK/);
    expect(gw.routes()[0]!.Targets[0]!.Active).toBe(0);
  });

  it('closes idle keep-alive connections on close, and lets a response in flight finish', async () => {
    let finish: (() => void) | undefined;
    const b = await rawBackend((head, sock) => {
      const answer = () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      if (head.includes('/held')) finish = answer;
      else answer();
    });
    const gw = await startGateway({
      listen: { host: '127.0.0.1', port: 0 },
      source: new MemorySource([instance('a', b.port, ['urlprefix-/'])]),
      logger: nullLogger,
    });
    await gw.ready(AbortSignal.timeout(2000));
    const idle = await rawClient(gw.port);
    idle.sock.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => idle.text().endsWith('ok'), { timeout: 3000 }).toBe(true);
    const busy = await rawClient(gw.port);
    busy.sock.write('GET /held HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => finish !== undefined, { timeout: 3000 }).toBe(true);
    let closed = false;
    const closing = gw.close(5000).then(() => (closed = true));
    await expect.poll(() => idle.closed(), { timeout: 3000 }).toBe(true);
    expect(closed).toBe(false);
    finish!();
    await closing;
    expect(busy.text()).toMatch(/Connection: close\r\n\r\nok$/);
  });

  it('sends an error page without a body to HEAD, and the pipelined GET after it is read correctly', async () => {
    const gw = await gateway([instance('a', 1, ['urlprefix-/'], { Healthy: false })]);
    const c = await rawClient(gw.port);
    c.sock.write('HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    const text = c.text();
    const second = text.indexOf('HTTP/1.1 503', 1);
    expect(second).toBeGreaterThan(0);
    const head = text.slice(0, second);
    // The HEAD answer keeps its Content-Length (that of the GET's body) but ends with its head.
    expect(head).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*content-length: \d+\r\n[^]*\r\n\r\n$/);
    expect(head.indexOf('\r\n\r\n')).toBe(head.length - 4);
    expect(text.slice(second)).toMatch(/\r\n\r\n503 Service Unavailable\n[^]*\(Drover gateway\)\n$/);
  });

  it('stops serving pipelined requests while the client does not read its responses, and resumes when it does', async () => {
    const body = 'x'.repeat(8192);
    const b = await rawBackend((_head, sock) =>
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
    );
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    // The gateway's side of the client connection, seen through its writes.
    let served: Socket | undefined;
    let maxQueued = 0;
    const write = vi.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, ...args: unknown[]) {
      const r = origWrite.apply(this, args as never) as boolean;
      if (this.localPort === gw.port) {
        // eslint-disable-next-line @typescript-eslint/no-this-alias -- the spy records the gateway-side socket
        served = this;
        maxQueued = Math.max(maxQueued, this.writableLength);
      }
      return r;
    });
    cleanups.push(() => write.mockRestore());
    const c = await rawClient(gw.port);
    c.sock.pause();
    const n = 2000;
    c.sock.write(
      'GET / HTTP/1.1\r\nHost: h\r\n\r\n'.repeat(n - 1) + 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    );
    // Either the gateway stalls (its socket paused, waiting for 'drain') or it answers everything into memory.
    await expect
      .poll(() => (served !== undefined && served.isPaused() && served.writableNeedDrain) || b.heads.length === n, {
        timeout: 10_000,
      })
      .toBe(true);
    expect(b.heads.length).toBeLessThan(n);
    expect(maxQueued).toBeLessThan(served!.writableHighWaterMark + 2 * 8400);
    c.sock.resume();
    await expect.poll(() => c.closed(), { timeout: 10_000 }).toBe(true);
    expect(count(c.text(), 'HTTP/1.1 200 OK')).toBe(n);
  });

  it('refuses a head still incomplete headersTimeout after its first byte, however it trickles in', async () => {
    const gw = await gateway([instance('a', 1, ['urlprefix-/'], { Healthy: false })], { headersTimeoutMs: 300 });
    const c = await rawClient(gw.port);
    c.sock.write('GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ');
    // A byte every 20 ms: an idle timer would never fire.
    const trickle = setInterval(() => c.sock.write('a'), 20);
    cleanups.push(() => clearInterval(trickle));
    await expect.poll(() => c.closed(), { timeout: 5000 }).toBe(true);
    expect(c.text()).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  });

  it('finds the end of a head sent byte by byte, and serves the requests pipelined behind it', async () => {
    const gw = await gateway([instance('a', 1, ['urlprefix-/'], { Healthy: false })]);
    const c = await rawClient(gw.port);
    const req = 'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n';
    for (const ch of req) c.sock.write(ch);
    c.sock.write(req + 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    expect(count(c.text(), 'HTTP/1.1 503 Service Unavailable\r\n')).toBe(3);
  });

  it('resets the client when a response framed by the instance closing is cut by a connection reset', async () => {
    let partSent = false;
    let reset: (() => void) | undefined;
    const b = await rawBackend((_head, sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial-', () => (partSent = true));
      reset = () => sock.resetAndDestroy();
    });
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    let error: string | undefined;
    let ended = false;
    c.sock.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    c.sock.on('end', () => (ended = true));
    c.sock.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await expect.poll(() => partSent && c.text().endsWith('partial-'), { timeout: 3000 }).toBe(true);
    reset!();
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    // A clean end would tell the client it has the whole body.
    expect(ended).toBe(false);
    expect(error).toBe('ECONNRESET');
    const metrics = await get(gw.port, '/_drover/gateway/metrics');
    expect(metrics.body).toMatch(/drover_gateway_errors_total\{route="\/",reason="upstream_reset"\} 1/);
  });

  it('refuses a head ending in bare LFs at once, with the connection left open by the client', async () => {
    const b = await rawBackend((_head, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write('GET / HTTP/1.1\nHost: h\n\n');
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    expect(c.text()).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    expect(b.heads).toHaveLength(0);
  });

  it("limits the request head to the server's maxHeaderSize", async () => {
    const gw = await gateway([instance('a', 1, ['urlprefix-/'], { Healthy: false })], { maxHeaderSize: 1024 });
    const c = await rawClient(gw.port);
    c.sock.write(`GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`);
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    expect(c.text()).toBe('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
  });

  it('answers a long pipeline of requests that fail at once (503), in order and without growing the stack', async () => {
    const gw = await gateway([instance('a', 1, ['urlprefix-/'], { Healthy: false })]);
    const c = await rawClient(gw.port);
    const n = 5000;
    c.sock.write(
      'GET / HTTP/1.1\r\nHost: h\r\n\r\n'.repeat(n - 1) + 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    );
    await expect.poll(() => c.closed(), { timeout: 10_000 }).toBe(true);
    expect(count(c.text(), 'HTTP/1.1 503 Service Unavailable\r\n')).toBe(n);
  });
});

/**
 * A raw backend that numbers its connections: `answer` gets each head (bodiless requests), the socket, the
 * connection's number and the request's rank on it. `open()`: its connections not closed yet.
 */
async function countingBackend(
  answer: (head: string, sock: Socket, conn: number, nth: number) => void,
  tls?: { cert: string; key: string },
): Promise<{ port: number; conns: () => number; open: () => number }> {
  let conns = 0;
  const sockets = new Set<Socket>();
  const serve = (sock: Socket) => {
    const id = ++conns;
    let nth = 0;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        answer(head, sock, id, ++nth);
      }
    });
  };
  const server = tls ? createTlsServer(tls, serve) : createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, conns: () => conns, open: () => sockets.size };
}

/** Requests on a new client connection (the last one asking to close); the response text once it is closed. */
async function exchange(port: number, requests: string): Promise<string> {
  const c = await rawClient(port);
  c.sock.write(requests);
  await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
  return c.text();
}

const GET = (path: string, more = '') => `GET ${path} HTTP/1.1\r\nHost: h\r\n${more}\r\n`;
const LAST = (path: string) => GET(path, 'Connection: close\r\n');

describe('response heads on both paths', () => {
  it('end as node:http ends them: a Date unless the instance sent one, then Connection and Keep-Alive', async () => {
    const b = await rawBackend((head, sock) => {
      const date = head.includes('/dated') ? 'Date: Mon, 01 Jan 2001 00:00:00 GMT\r\n' : '';
      sock.write(`HTTP/1.1 200 OK\r\nX-A: 1\r\n${date}Content-Length: 2\r\nKeep-Alive: timeout=30\r\n\r\nok`);
    });
    const instances = [
      instance('a', b.port, ['urlprefix-/']),
      instance('d', 1, ['urlprefix-/down'], { Healthy: false }),
    ];
    const fast = await gateway(instances);
    const slow = await gateway(instances, { fastPath: false });
    const requests = GET('/a') + GET('/dated') + GET('/down') + LAST('/a');
    const fromFast = await exchange(fast.port, requests);
    const fromSlow = await exchange(slow.port, requests);
    const ok = `HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n${KA}\r\nok`;
    const down = undated(fromFast).slice(2 * ok.length, undated(fromFast).lastIndexOf('HTTP/1.1 200 OK'));
    expect(down).toMatch(
      /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n503 /,
    );
    expect(undated(fromFast)).toBe(
      `${ok}${ok}${down}HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`,
    );
    // Header for header as node:http, the instance's own Date kept where it was.
    expect(undated(fromSlow)).toBe(undated(fromFast));
    expect(fromFast).toContain('X-A: 1\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nContent-Length: 2\r\n');
    const dates = [...fromFast.matchAll(/Date: ([^\r]+)\r\n/g)].map((m) => Date.parse(m[1]!));
    expect(dates[1]).toBe(Date.parse('Mon, 01 Jan 2001 00:00:00 GMT'));
    for (const i of [0, 2, 3]) expect(Math.abs(dates[i]! - Date.now())).toBeLessThan(60_000);
  });

  it('carry a Date made once a second', () => {
    vi.useFakeTimers({ now: Date.parse('2030-05-06T07:08:09.100Z'), toFake: ['Date'] });
    cleanups.push(() => void vi.useRealTimers());
    const first = dateHeaderLine();
    expect(first).toBe('Date: Mon, 06 May 2030 07:08:09 GMT\r\n');
    vi.setSystemTime(Date.parse('2030-05-06T07:08:09.999Z'));
    expect(dateHeaderLine()).toBe(first);
    vi.setSystemTime(Date.parse('2030-05-06T07:08:10.000Z'));
    expect(dateHeaderLine()).toBe('Date: Mon, 06 May 2030 07:08:10 GMT\r\n');
  });
});

describe('pooled instance connections', () => {
  const ok = (conn: number, keepAlive = '') =>
    `HTTP/1.1 200 OK\r\nContent-Length: ${String(conn).length}\r\n${keepAlive}\r\n${conn}`;

  it("are not reused past the instance's Keep-Alive timeout less a second, and kept without one", async () => {
    let clock = 1_000_000;
    const hinted = await countingBackend((_h, sock, conn) =>
      sock.write(ok(conn, 'Keep-Alive: timeout=3, max=100\r\n')),
    );
    const plain = await countingBackend((_h, sock, conn) => sock.write(ok(conn)));
    const once = await countingBackend((_h, sock, conn) => sock.write(ok(conn, 'Keep-Alive: timeout=1\r\n')));
    const gw = await gateway(
      [
        instance('h', hinted.port, ['urlprefix-/h']),
        instance('p', plain.port, ['urlprefix-/p']),
        instance('o', once.port, ['urlprefix-/o']),
      ],
      { now: () => clock },
    );
    const body = async (path: string) => (await exchange(gw.port, LAST(path))).split('\r\n\r\n')[1];
    expect(await body('/h')).toBe('1');
    clock += 1999; // the hint allows 2 s of idle time
    expect(await body('/h')).toBe('1');
    clock += 2000;
    expect(await body('/h')).toBe('2');
    await expect.poll(() => hinted.open(), { timeout: 3000 }).toBe(1); // the stale one was closed
    expect(await body('/p')).toBe('1');
    clock += 3_600_000;
    expect(await body('/p')).toBe('1');
    // timeout=1 leaves no safe idle time: not pooled at all.
    expect(await body('/o')).toBe('1');
    expect(await body('/o')).toBe('2');
    await expect.poll(() => once.open(), { timeout: 3000 }).toBe(0);
  });

  it('past the Keep-Alive hint are closed by the sweep, also those below the top of the pool', async () => {
    let clock = 1_000_000;
    // The instance answers once two requests are waiting, so both connections are busy at once and both pooled.
    const waiting: (() => void)[] = [];
    const b = await countingBackend((_h, sock, conn) => {
      waiting.push(() => sock.write(ok(conn, 'Keep-Alive: timeout=3\r\n')));
      if (waiting.length === 2) for (const w of waiting.splice(0)) w();
    });
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])], { now: () => clock });
    const bodies = await Promise.all([exchange(gw.port, LAST('/')), exchange(gw.port, LAST('/'))]);
    expect(bodies.map((t) => t.split('\r\n\r\n')[1]).sort()).toEqual(['1', '2']);
    expect(b.open()).toBe(2);
    clock += 2001; // past the 2 s the hint allows; no request comes to take either
    await expect.poll(() => b.open(), { timeout: 5000, interval: 100 }).toBe(0);
  });

  it.each([
    ['the fast path', {}],
    ['node:http', { fastPath: false }],
  ])(
    'resend an idempotent request over a new connection when the only instance closes the pooled one unanswered (%s)',
    async (_what, over: Partial<GatewayOptions>) => {
      // Each connection's second request finds it closed, as an instance timing out its idle connection just then.
      const b = await countingBackend((_h, sock, conn, nth) => (nth === 2 ? sock.destroy() : sock.write(ok(conn))));
      const gw = await gateway([instance('a', b.port, ['urlprefix-/'])], { maxAttempts: 1, ...over });
      const c = await rawClient(gw.port);
      // 1 on connection 1; 2 resent over connection 2; 3 on connection 2 (fast path: resent over connection 3)
      // or on a new connection 3 (node:http's resend used a one-off connection).
      for (let i = 1; i <= 3; i++) {
        c.sock.write(GET('/'));
        await expect.poll(() => count(c.text(), 'HTTP/1.1 200 OK'), { timeout: 3000 }).toBe(i);
        expect(c.text().endsWith(`\r\n\r\n${i}`)).toBe(true);
      }
      // Not a POST: the instance may have acted on it.
      c.sock.write('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n');
      await expect.poll(() => count(c.text(), 'HTTP/1.1 502 Bad Gateway'), { timeout: 3000 }).toBe(1);
      expect(b.conns()).toBe(3);
      expect(gw.routes()[0]!.Targets[0]!.Active).toBe(0);
    },
  );

  it.each([
    ['the fast path', {}],
    ['node:http', { fastPath: false }],
  ])(
    "resend over a new connection, not another instance's pooled one, which may be as stale (%s)",
    async (_what, over: Partial<GatewayOptions>) => {
      // Every connection's second request finds it closed: both instances' pooled connections are stale.
      const answer = (_h: string, sock: Socket, conn: number, nth: number) =>
        nth === 2 ? sock.destroy() : sock.write(ok(conn));
      const a = await countingBackend(answer);
      const b = await countingBackend(answer);
      const gw = await gateway([instance('a', a.port, ['urlprefix-/']), instance('b', b.port, ['urlprefix-/'])], {
        maxAttempts: 1,
        ...over,
      });
      const c = await rawClient(gw.port);
      for (let i = 1; i <= 2; i++) {
        c.sock.write(GET('/'));
        await expect.poll(() => count(c.text(), 'HTTP/1.1 200 OK'), { timeout: 3000 }).toBe(i);
      }
      // One request each (round robin): each instance has one pooled connection.
      expect([a.conns(), b.conns()]).toEqual([1, 1]);
      c.sock.write(GET('/'));
      await expect.poll(() => count(c.text(), 'HTTP/1.1 '), { timeout: 3000 }).toBe(3);
      // Its pooled connection closed, the resend went to the other instance over its connection 2.
      expect(c.text().endsWith('\r\n\r\n2')).toBe(true);
      expect(a.conns() + b.conns()).toBe(3);
      expect(gw.routes()[0]!.Targets.map((t) => t.Active)).toEqual([0, 0]);
    },
  );

  it.each([
    ['the fast path', {}],
    ['node:http', { fastPath: false }],
  ])('do not count that resend against maxAttempts (%s)', async (_what, over: Partial<GatewayOptions>) => {
    const a = await countingBackend((_h, sock, conn, nth) => (nth === 2 ? sock.destroy() : sock.write(ok(conn))));
    const b = await countingBackend((_h, sock) => sock.destroy());
    const c = await countingBackend((_h, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc'));
    const gw = await gateway(
      [
        instance('a', a.port, ['urlprefix-/']),
        instance('b', b.port, ['urlprefix-/']),
        instance('c', c.port, ['urlprefix-/']),
      ],
      { maxAttempts: 2, ...over },
    );
    const client = await rawClient(gw.port);
    // 1: a (pooled after); 2: b hangs up, c answers (2 attempts); 3: a's pooled connection is stale, resent to
    // b (hangs up), then c: 3 attempts, one of them the resend that maxAttempts does not count.
    for (let i = 1; i <= 3; i++) {
      client.sock.write(GET('/'));
      await expect.poll(() => count(client.text(), 'HTTP/1.1 '), { timeout: 3000 }).toBe(i);
    }
    expect(count(client.text(), 'HTTP/1.1 200 OK')).toBe(3);
    expect(client.text().endsWith('\r\n\r\nc')).toBe(true);
    expect([a.conns(), b.conns(), c.conns()]).toEqual([1, 2, 1]);
  });

  it.each([
    ['the fast path', {}, ''],
    ['node:http', { fastPath: false }, ''],
    ['node:http, for a request with a body', {}, 'x'],
  ])(
    'are closed when the instance sends bytes after a complete response (%s)',
    async (_what, over: Partial<GatewayOptions>, reqBody) => {
      let late: (() => void) | undefined;
      const b = await countingBackend((head, sock, conn) => {
        if (head.includes('/same')) sock.write(`${ok(conn)}HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil`);
        else if (head.includes('/late')) {
          sock.write(ok(conn));
          late = () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil');
        } else sock.write(ok(conn));
      });
      const gw = await gateway([instance('a', b.port, ['urlprefix-/'])], over);
      const req = (path: string) =>
        reqBody === ''
          ? LAST(path)
          : `POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: ${reqBody.length}\r\nConnection: close\r\n\r\n${reqBody}`;
      const body = async (path: string) => (await exchange(gw.port, req(path))).split('\r\n\r\n')[1];
      expect(await body('/same')).toBe('1');
      await expect.poll(() => b.open(), { timeout: 3000 }).toBe(0);
      expect(await body('/late')).toBe('2');
      expect(b.open()).toBe(1);
      late!();
      await expect.poll(() => b.open(), { timeout: 3000 }).toBe(0);
      expect(await body('/')).toBe('3');
    },
  );

  it('to proto=https instances close on stray bytes and once idle past the Keep-Alive hint too', async () => {
    let late: (() => void) | undefined;
    const b = await countingBackend((head, sock, conn) => {
      if (!head.includes('/late')) return void sock.write(ok(conn, 'Keep-Alive: timeout=2\r\n'));
      sock.write(ok(conn));
      late = () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil');
    }, selfSigned('localhost'));
    const gw = await gateway([instance('a', b.port, ['urlprefix-/ proto=https tlsskipverify=true'])]);
    const body = async (path: string) => (await exchange(gw.port, LAST(path))).split('\r\n\r\n')[1];
    expect(await body('/late')).toBe('1');
    expect(b.open()).toBe(1);
    late!();
    await expect.poll(() => b.open(), { timeout: 3000 }).toBe(0);
    expect(await body('/')).toBe('2');
    expect(b.open()).toBe(1);
    // Closed by the gateway after 1 s idle (the instance itself never closes it).
    await expect.poll(() => b.open(), { timeout: 5000, interval: 100 }).toBe(0);
  });

  it('take at most an hour from a huge Keep-Alive hint (a longer timer overflows)', () => {
    expect(pooledIdleLimitMs('timeout=999999999')).toBe(3_600_000);
    expect(pooledIdleLimitMs('timeout=3601')).toBe(3_600_000);
    expect(pooledIdleLimitMs('timeout=60')).toBe(59_000);
  });

  it("close on node:http's path too once idle for the instance's Keep-Alive timeout less a second", async () => {
    const b = await countingBackend((_h, sock, conn) => sock.write(ok(conn, 'Keep-Alive: timeout=2\r\n')));
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])], { fastPath: false });
    expect((await exchange(gw.port, LAST('/'))).endsWith('\r\n\r\n1')).toBe(true);
    expect(b.open()).toBe(1);
    // Closed by the gateway after 1 s idle (the instance itself never closes it).
    await expect.poll(() => b.open(), { timeout: 5000, interval: 100 }).toBe(0);
  });
});

describe('repeated heads', () => {
  it('are routed again when the routing table changed between them, on the same connection', async () => {
    const named = (name: string) => (_head: string, sock: Socket) =>
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${name}`);
    const a = await rawBackend(named('a'));
    const b = await rawBackend(named('b'));
    const source = new MemorySource([instance('a', a.port, ['urlprefix-/'])]);
    const gw = await gateway([], { source });
    const c = await rawClient(gw.port);
    c.sock.write(GET('/x'));
    await expect.poll(() => c.text().endsWith('a'), { timeout: 3000 }).toBe(true);
    source.set([instance('b', b.port, ['urlprefix-/'])]);
    await expect.poll(() => gw.routes()[0]?.Targets.map((t) => t.ID), { timeout: 3000 }).toEqual(['b']);
    c.sock.write(GET('/x'));
    await expect.poll(() => c.text().endsWith('b'), { timeout: 3000 }).toBe(true);
    expect(a.heads).toHaveLength(1);
    expect(b.heads).toEqual([a.heads[0]]);
  });

  it('from an instance are framed by what each request asked: HEAD has no body, Connection: close ends', async () => {
    // The same response head for GET and HEAD, over the one pooled instance connection.
    const b = await rawBackend((head, sock) =>
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${head.startsWith('HEAD') ? '' : 'ok'}`),
    );
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write(GET('/') + GET('/') + `HEAD / HTTP/1.1\r\nHost: h\r\n\r\n` + GET('/') + LAST('/'));
    await expect.poll(() => c.closed(), { timeout: 3000 }).toBe(true);
    const ok = `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${KA}\r\n`;
    expect(undated(c.text())).toBe(
      `${ok}ok${ok}ok${ok}${ok}okHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`,
    );
    expect(b.heads).toHaveLength(5);
  });

  it('from an instance that sends no Date get the Date of their own second', async () => {
    vi.useFakeTimers({ now: Date.parse('2030-05-06T07:08:09.100Z'), toFake: ['Date'] });
    cleanups.push(() => void vi.useRealTimers());
    const b = await rawBackend((_head, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const gw = await gateway([instance('a', b.port, ['urlprefix-/'])]);
    const c = await rawClient(gw.port);
    c.sock.write(GET('/'));
    await expect.poll(() => count(c.text(), 'ok'), { timeout: 3000 }).toBe(1);
    vi.setSystemTime(Date.parse('2030-05-06T07:08:12.000Z'));
    c.sock.write(GET('/'));
    await expect.poll(() => count(c.text(), 'ok'), { timeout: 3000 }).toBe(2);
    expect([...c.text().matchAll(/Date: ([^\r]+)\r\n/g)].map((m) => m[1])).toEqual([
      'Mon, 06 May 2030 07:08:09 GMT',
      'Mon, 06 May 2030 07:08:12 GMT',
    ]);
  });
});

describe('instance connections read into one shared buffer', () => {
  it('deliver every response intact to clients that read slowly while other instances keep sending', async () => {
    // Each instance's reads land in the shared buffer while the bytes before them still wait for a client that
    // does not read: four bodies larger than the sockets' buffers, the clients paused until all instances stalled.
    const size = (i: number) => 8_000_000 + i * 1000;
    const backends = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        rawBackend((_head, sock) => {
          const body = Buffer.alloc(size(i), String.fromCharCode(97 + i)).toString('latin1');
          const text = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
          for (let k = 0; k < text.length; k += 20_011) sock.write(text.slice(k, k + 20_011));
        }),
      ),
    );
    const gw = await gateway(backends.map((b, i) => instance(`i${i}`, b.port, [`urlprefix-/${i}`])));
    const clients = await Promise.all([0, 1, 2, 3].map(() => rawClient(gw.port)));
    clients.forEach((c, i) => {
      c.sock.pause();
      c.sock.write(LAST(`/${i}`));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const c of clients) c.sock.resume();
    for (const c of clients) await expect.poll(() => c.closed(), { timeout: 10_000 }).toBe(true);
    clients.forEach((c, i) => {
      const body = c.text().split('\r\n\r\n')[1]!;
      expect(body.length).toBe(size(i));
      expect(body === String.fromCharCode(97 + i).repeat(size(i))).toBe(true);
    });
  });

  it('keep the bytes queued for a paused client while another instance streams a whole body through', async () => {
    // Client A stalls on an 8 MB body, so the gateway queues part of it; then B's whole 8 MB body passes through
    // the same read buffer. A must still read only its own bytes.
    const size = 8_000_000;
    const backends = await Promise.all(
      ['a', 'b'].map((ch) =>
        rawBackend((_head, sock) => {
          const body = Buffer.alloc(size, ch).toString('latin1');
          const text = `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n${body}`;
          for (let k = 0; k < text.length; k += 20_011) sock.write(text.slice(k, k + 20_011));
        }),
      ),
    );
    const gw = await gateway([
      instance('a', backends[0]!.port, ['urlprefix-/a']),
      instance('b', backends[1]!.port, ['urlprefix-/b']),
    ]);
    const a = await rawClient(gw.port);
    a.sock.pause();
    a.sock.write(LAST('/a'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const b = await rawClient(gw.port);
    b.sock.write(LAST('/b'));
    await expect.poll(() => b.closed(), { timeout: 10_000 }).toBe(true);
    a.sock.resume();
    await expect.poll(() => a.closed(), { timeout: 10_000 }).toBe(true);
    const body = a.text().split('\r\n\r\n')[1]!;
    expect(body.length).toBe(size);
    expect(body.includes('b')).toBe(false);
  });
});
