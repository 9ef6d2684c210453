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

  /** Sends `requests` one after another on one connection, each after the previous answer arrived in full. */
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
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          const len = end < 0 ? -1 : Number(/content-length: (\d+)/i.exec(buffered.subarray(0, end).toString())?.[1]);
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
