import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { badRequest } from '../../errors/index.js';
import type { ServerAPI } from '../../server/index.js';
import type { HttpApi } from '../server.js';
import { testHttpApi } from '../testing/test-api.js';
import type { ClientReadAPI, ExecStart } from '../types.js';

const ALLOC = 'e1e1e1e1-0000-4000-8000-000000000001';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A client agent whose task `web` runs `cat`: stdin comes back on stdout, and it exits 3 at end of stdin. */
function catClient(started: ExecStart[]): ClientReadAPI {
  return {
    nodeID: 'n-client',
    hasAlloc: (id) => id === ALLOC,
    // eslint-disable-next-line require-yield
    async *readLogs() {
      return;
    },
    allocStats: async () => ({}),
    allocExec: async (id, task, req) => {
      if (task !== 'web') throw badRequest(`task "${task}" not found in allocation "${id}" (tasks: web)`);
      started.push(req);
      let done: (v: { exitCode: number }) => void = () => undefined;
      const exited = new Promise<{ exitCode: number }>((r) => (done = r));
      req.onOutput('stderr', Buffer.from('ready\n'));
      return {
        write: (d) => req.onOutput('stdout', d),
        closeStdin: () => done({ exitCode: 3 }),
        resize: (h, w) => req.onOutput('stderr', Buffer.from(`size ${h}x${w}\n`)),
        exited,
      };
    },
  };
}

function fakeServer(httpAddr: string): ServerAPI {
  return {
    resolvePrefix: (_k: string, id: string) => (ALLOC.startsWith(id) ? ALLOC : id),
    allocs: {
      get: async () => ({
        value: { ID: ALLOC, NodeID: 'n-client', DesiredStatus: 'run', ClientStatus: 'running' },
        index: 5,
      }),
    },
    nodes: {
      get: async () => ({
        value: { ID: 'n-client', Name: 'client-1', Status: 'ready', HTTPAddr: httpAddr },
        index: 5,
      }),
    },
  } as unknown as ServerAPI;
}

async function api(opts: { server?: ServerAPI; client?: ClientReadAPI }): Promise<HttpApi> {
  const h = await testHttpApi(opts);
  cleanups.push(() => h.close());
  return h;
}

interface Outcome {
  out: string;
  err: string;
  last?: unknown;
  code?: number;
  status?: number;
  body?: string;
}

/** Runs one exec over the websocket, sending `input` frames once open, and collects what comes back. */
function exec(address: string, id: string, task: string, input: object[]): Promise<Outcome> {
  const q = `task=${task}&command=${encodeURIComponent('["/bin/cat"]')}`;
  const ws = new WebSocket(`${address.replace('http', 'ws')}/v1/client/allocation/${id}/exec?${q}`);
  const o: Outcome = { out: '', err: '' };
  return new Promise((resolve) => {
    ws.on('unexpected-response', (_r, res) => {
      o.status = res.statusCode;
      o.body = '';
      res.on('data', (c: Buffer) => (o.body += c.toString()));
      res.on('end', () => resolve(o));
    });
    ws.on('open', () => input.forEach((f) => ws.send(JSON.stringify(f))));
    ws.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString()) as { stdout?: { data: string }; stderr?: { data: string } };
      if (f.stdout) o.out += Buffer.from(f.stdout.data, 'base64').toString();
      if (f.stderr) o.err += Buffer.from(f.stderr.data, 'base64').toString();
      o.last = f;
    });
    ws.on('close', (code) => {
      o.code = code;
      resolve(o);
    });
    ws.on('error', () => undefined);
  });
}

const stdin = (s: string) => ({ stdin: { data: Buffer.from(s).toString('base64') } });

describe('alloc exec over the websocket', () => {
  it('relays frames both ways through a server to the client agent running the allocation', async () => {
    const started: ExecStart[] = [];
    const client = await api({ client: catClient(started) });
    const server = await api({ server: fakeServer(client.address.replace('http://', '')) });
    const o = await exec(server.address, 'e1e1', 'web', [
      { tty_size: { height: 30, width: 100 } },
      stdin('hello\n'),
      { stdin: { close: true } },
    ]);
    expect(o.out).toBe('hello\n');
    expect(o.err).toBe('ready\nsize 30x100\n');
    expect(o.last).toEqual({ exited: true, result: { exit_code: 3 } });
    expect(o.code).toBe(1000);
    // The client agent got the full allocation ID and the command as the query gave it.
    expect(started.map((s) => [s.cmd, s.tty])).toEqual([[['/bin/cat'], false]]);
  });

  it("passes the client agent's HTTP error back through the server when the task is unknown", async () => {
    const client = await api({ client: catClient([]) });
    const server = await api({ server: fakeServer(client.address.replace('http://', '')) });
    const o = await exec(server.address, ALLOC, 'nope', []);
    expect(o.status).toBe(400);
    expect(o.body).toContain('task "nope" not found');
  });

  it('kills the command when the caller goes away', async () => {
    const started: ExecStart[] = [];
    const client = await api({ client: catClient(started) });
    const q = `task=web&command=${encodeURIComponent('["/bin/cat"]')}`;
    const ws = new WebSocket(`${client.address.replace('http', 'ws')}/v1/client/allocation/${ALLOC}/exec?${q}`);
    await new Promise((r) => ws.once('open', r));
    ws.terminate();
    await expect.poll(() => started[0]?.signal.aborted).toBe(true);
  });

  it.each([
    ['no command', 'task=web', 'query parameter "command" is required'],
    ['a command that is not JSON', 'task=web&command=sh', 'is not valid JSON'],
    ['an empty command', 'task=web&command=[]', 'non-empty JSON array of strings'],
    ['no task', `command=${encodeURIComponent('["sh"]')}`, 'query parameter "task" is required'],
    ['a tty that is no boolean', `task=web&tty=maybe&command=${encodeURIComponent('["sh"]')}`, 'parameter "tty"'],
  ])('answers 400 to %s', async (_what, q, text) => {
    const client = await api({ client: catClient([]) });
    const ws = new WebSocket(`${client.address.replace('http', 'ws')}/v1/client/allocation/${ALLOC}/exec?${q}`);
    const res = await new Promise<{ status?: number; body: string }>((resolve) => {
      ws.on('unexpected-response', (_r, r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode, body }));
      });
      ws.on('error', () => undefined);
    });
    expect(res.status).toBe(400);
    expect(res.body).toContain(text);
  });
});
