/* global process, performance, setTimeout, URL */
// One instance of the discovery benchmark's service, run by raw_exec on NOMAD_PORT_http (127.0.0.1 only).
// Its health check (GET /health) answers 503 until the benchmark flips it with POST /pass, 200 until /fail.
// It timestamps, on the shared wall clock (epoch ms with sub-ms precision), the first probe it receives after
// each flip: that is the moment the check passed (or failed), which the benchmark subtracts from when each
// observer saw the change. The check API's timestamps are whole seconds, too coarse for this.
import { createServer } from 'node:http';

const now = () => performance.timeOrigin + performance.now();
const port = Number(process.env.NOMAD_PORT_http);
const intervalMs = Number(process.env.CHECK_INTERVAL_MS ?? 1000);
// The check runner sleeps its interval after each answer, so instances started together are probed together.
// Holding the very first answer back by alloc index × spread moves each instance to its own slot, so the
// benchmark finds one whose probe is due soon for each event. Slots drift (a status change lengthens that
// probe's cycle by the registration write) and may meet again: POST /hold?ms=N holds the next unmeasured answer
// by N ms, which the benchmark uses to move an instance back into a free slot.
const firstHoldMs = Number(process.env.NOMAD_ALLOC_INDEX ?? 0) * Number(process.env.PHASE_SPREAD_MS ?? 0);
let passing = false;
let lastProbeAt = 0;
let nextProbeAt = 0;
let probes = 0;
let pendingHold = 0;
const recent = []; // the last probes' times, to check the schedule from outside
// When the first /health after the last flip was received; 0 until one arrives.
let changedAt = 0;
let flippedAt = 0;

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') {
    const t = now();
    probes++;
    lastProbeAt = t;
    recent.push(Math.round(t));
    if (recent.length > 8) recent.shift();
    const measured = changedAt === 0 && flippedAt > 0;
    if (measured) changedAt = t;
    res.statusCode = passing ? 200 : 503;
    const body = passing ? 'ok\n' : 'not yet\n';
    let hold = probes === 1 ? firstHoldMs : 0;
    if (!measured && pendingHold > 0) [hold, pendingHold] = [pendingHold, 0];
    nextProbeAt = t + hold + intervalMs;
    if (hold > 0) setTimeout(() => res.end(body), hold);
    else res.end(body);
    return;
  }
  if (path === '/pass' || path === '/fail') {
    passing = path === '/pass';
    flippedAt = now();
    changedAt = 0;
  } else if (path === '/hold') {
    pendingHold = Math.min(Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0), 900);
  } else if (path !== '/state' && path !== '/') {
    res.statusCode = 404;
  }
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({ port, pid: process.pid, passing, flippedAt, changedAt, lastProbeAt, nextProbeAt, probes, recent }),
  );
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
