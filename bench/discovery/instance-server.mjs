/* global process, performance */
// One instance of the discovery benchmark's service, run by raw_exec on NOMAD_PORT_http (127.0.0.1 only).
// Its health check (GET /health) answers 503 until the benchmark flips it with POST /pass, 200 until /fail.
// It timestamps, on the shared wall clock (epoch ms with sub-ms precision), the first probe it answers after
// each flip: that is the moment the check passed (or failed), which the benchmark subtracts from when each
// observer saw the change. The check API's timestamps are whole seconds, too coarse for this.
import { createServer } from 'node:http';

const now = () => performance.timeOrigin + performance.now();
const port = Number(process.env.NOMAD_PORT_http);
let passing = false;
let lastProbeAt = 0;
let probes = 0;
// The first /health answered in the current state since the last flip; 0 until a probe arrives.
let changedAt = 0;
let flippedAt = 0;

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') {
    const t = now();
    probes++;
    lastProbeAt = t;
    if (changedAt === 0 && flippedAt > 0) changedAt = t;
    res.statusCode = passing ? 200 : 503;
    // The check runner sleeps its interval after each answer, so delaying the first one by index × spread moves
    // this instance's probes off its siblings': the benchmark then finds one due soon for each event.
    const delay = probes === 1 ? Number(process.env.NOMAD_ALLOC_INDEX ?? 0) * Number(process.env.PHASE_SPREAD_MS ?? 0) : 0;
    const answer = () => res.end(passing ? 'ok\n' : 'not yet\n');
    if (delay > 0) setTimeout(answer, delay);
    else answer();
    return;
  }
  if (path === '/pass' || path === '/fail') {
    passing = path === '/pass';
    flippedAt = now();
    changedAt = 0;
  } else if (path !== '/state' && path !== '/') {
    res.statusCode = 404;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ port, pid: process.pid, passing, flippedAt, changedAt, lastProbeAt, probes }));
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
