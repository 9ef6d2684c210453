#!/usr/bin/env node
/* global process, console, fetch, AbortController, setTimeout, clearTimeout, TextDecoder, Buffer */
// A smoke test shaped like Nomad's Go API client: the calls `api.Jobs().Register`, `Plan`, `Info`,
// `Allocations(resources=true)`, `AllocFS().Logs/List/Cat`, `Allocations().Exec` (its websocket frames),
// `EventStream().Stream`, `Deregister(purge)` make,
// with their paths, query parameters (Go booleans, as the Go client sends them) and bodies, against an agent at
// DROVER_ADDR / NOMAD_ADDR (default http://127.0.0.1:4646). Prints one line per step; exits 1 at the first
// failure.
//
//   node scripts/api-smoke.mjs            # uses raw_exec, so run it against a -dev agent
import { WebSocket } from 'ws';

const addr = (process.env.DROVER_ADDR || process.env.NOMAD_ADDR || 'http://127.0.0.1:4646').replace(/\/+$/, '');
const jobID = `smoke-${Date.now().toString(36)}`;
const deadline = Date.now() + 120_000;

function fail(step, why) {
  console.log(`FAIL ${step}: ${why}`);
  process.exit(1);
}
async function call(step, method, path, body) {
  const res = await fetch(addr + path, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) fail(step, `${method} ${path} answered ${res.status}: ${text}`);
  const index = res.headers.get('x-nomad-index');
  try {
    return { body: JSON.parse(text), index: index ? Number(index) : undefined, text };
  } catch {
    return { body: text, index: index ? Number(index) : undefined, text };
  }
}
async function until(step, fn) {
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  fail(step, 'timed out');
}
const ok = (step, detail = '') => console.log(`ok   ${step}${detail ? `: ${detail}` : ''}`);

const job = {
  ID: jobID,
  Name: jobID,
  Type: 'service',
  Datacenters: ['dc1'],
  TaskGroups: [
    {
      Name: 'g',
      Count: 1,
      Tasks: [
        {
          Name: 't',
          Driver: 'raw_exec',
          Config: { command: '/bin/sh', args: ['-c', 'echo smoke-hello; while true; do sleep 1; done'] },
          Resources: { CPU: 50, MemoryMB: 32 },
        },
      ],
    },
  ],
};

// The event stream is opened first, from the current index, as a log shipper would.
const start = (await call('agent', 'GET', '/v1/jobs')).index ?? 0;
const events = [];
const ac = new AbortController();
const streaming = (async () => {
  try {
    const res = await fetch(`${addr}/v1/event/stream?topic=Job:${jobID}&index=${start}`, { signal: ac.signal });
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let pending = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += dec.decode(value, { stream: true });
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line && line !== '{}') events.push(...JSON.parse(line).Events);
      }
    }
  } catch {
    // aborted at the end
  }
})();

const plan = await call('plan', 'PUT', `/v1/job/${jobID}/plan`, { Job: job, Diff: true });
if (plan.body.Diff?.Type !== 'Added')
  fail('plan', `expected an Added diff, got ${JSON.stringify(plan.body.Diff?.Type)}`);
ok('plan', `diff ${plan.body.Diff.Type}`);
const reg = await call('register', 'PUT', '/v1/jobs', { Job: job });
ok('register', `eval ${reg.body.EvalID}`);
const info = await call('status', 'GET', `/v1/job/${jobID}`);
if (info.body.ID !== jobID) fail('status', 'wrong job');
ok('status', `status ${info.body.Status}`);
const alloc = await until('allocations', async () => {
  const r = await call('allocations', 'GET', `/v1/job/${jobID}/allocations?resources=True`);
  return r.body.find((a) => a.ClientStatus === 'running' && a.AllocatedResources?.Tasks?.t);
});
ok('allocations?resources=True', `alloc ${alloc.ID} running`);
const logs = await until('logs', async () => {
  const r = await call('logs', 'GET', `/v1/client/fs/logs/${alloc.ID}?task=t&type=stdout&plain=true&follow=false`);
  return r.text.includes('smoke-hello') ? r.text : null;
});
ok('logs', JSON.stringify(logs.trim()));
const ls = await call('fs ls', 'GET', `/v1/client/fs/ls/${alloc.ID}?path=/alloc/logs`);
if (!ls.body.some((f) => f.Name === 't.stdout.0'))
  fail('fs ls', `no t.stdout.0 in ${JSON.stringify(ls.body.map((f) => f.Name))}`);
ok('fs ls', ls.body.map((f) => f.Name).join(' '));
const cat = await call('fs cat', 'GET', `/v1/client/fs/cat/${alloc.ID}?path=/alloc/logs/t.stdout.0`);
if (!cat.text.includes('smoke-hello')) fail('fs cat', 'missing output');
ok('fs cat');
// Allocations().Exec: command as a JSON query value, tty=false, stdin frames, then the exited frame.
const exec = await new Promise((resolve) => {
  const q = `task=t&tty=false&command=${encodeURIComponent(JSON.stringify(['/bin/sh', '-c', 'cat; exit 5']))}`;
  const ws = new WebSocket(`${addr.replace(/^http/, 'ws')}/v1/client/allocation/${alloc.ID}/exec?${q}`);
  const got = { out: '', exit: undefined };
  const timer = setTimeout(() => (ws.terminate(), resolve({ ...got, why: 'timed out' })), 30_000);
  ws.on('unexpected-response', (_r, res) => resolve({ ...got, why: `answered ${res.statusCode}` }));
  ws.on('error', (e) => resolve({ ...got, why: e.message }));
  ws.on('open', () => {
    ws.send(JSON.stringify({ stdin: { data: Buffer.from('smoke-exec\n').toString('base64') } }));
    ws.send(JSON.stringify({ stdin: { close: true } }));
  });
  ws.on('message', (d) => {
    const f = JSON.parse(d.toString());
    if (f.stdout?.data) got.out += Buffer.from(f.stdout.data, 'base64').toString();
    if (f.exited) got.exit = f.result?.exit_code;
  });
  ws.on('close', (code) => (clearTimeout(timer), resolve({ ...got, code })));
});
if (exec.out !== 'smoke-exec\n' || exec.exit !== 5 || exec.code !== 1000) fail('exec', JSON.stringify(exec));
ok('exec', `exit code ${exec.exit}`);
const stop = await call('stop', 'DELETE', `/v1/job/${jobID}`);
ok('stop', `eval ${stop.body.EvalID}`);
await call('purge', 'DELETE', `/v1/job/${jobID}?purge=True`);
ok('purge');
await until('events', async () => events.some((e) => e.Type === 'JobDeregistered'));
ac.abort();
await streaming;
ok('events', [...new Set(events.map((e) => e.Type))].join(' '));
console.log('SMOKE OK');
