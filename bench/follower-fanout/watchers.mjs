#!/usr/bin/env node
/* global process, performance, setInterval, clearInterval */
// One watcher process of the follower-fanout benchmark (forked, IPC). Told `{ url, n, closeEach }`, it holds `n` blocking
// queries on `url`, each on its own connection, and reports to its parent:
//   { type: 'sent', sent }            every request written (sent once all are, and every 500 ms before)
//   { type: 'early', what }           the first answer, if it came before the parent said `armed`
//   { type: 'done', at, errors }      every answer's time (ms since the epoch, sub-ms: performance.timeOrigin
//                                     + performance.now(), comparable between processes on one machine)
// Several of these share the answers' parsing (one process reading 10,000 answers was itself a bottleneck).
import { request, Agent } from 'node:http';

// The parent ends this process; if the parent itself goes away, so does this one.
process.once('disconnect', () => process.exit(1));

process.once('message', ({ url, n, closeEach }) => {
  // Keep-alive, as real watchers (a client's alloc query, consul-template) hold their connections: with
  // `Connection: close` the server spent a third of its time shutting sockets down after each answer.
  // maxSockets Infinity: every held query still gets a connection of its own; maxFreeSockets Infinity: an
  // answered connection stays open (the default, 256, closed the rest while the server still answered).
  const agent = new Agent({ keepAlive: !closeEach, maxSockets: Infinity, maxFreeSockets: Infinity });
  let sent = 0;
  let armed = false;
  const at = [];
  const errors = [];
  process.on('message', (m) => {
    if (m?.type === 'armed') armed = true;
  });
  const report = setInterval(() => process.send({ type: 'sent', sent }), 500);
  const one = () =>
    new Promise((resolve) => {
      const req = request(url, { agent }, (res) => {
        let body = '';
        res.on('data', (b) => (body = (body + b.toString()).slice(0, 300)));
        res.once('end', () => {
          const t = performance.timeOrigin + performance.now();
          if (!armed && at.length === 0 && errors.length === 0)
            process.send({
              type: 'early',
              what: `HTTP ${res.statusCode} index ${res.headers['x-nomad-index']}: ${body}`,
            });
          if (res.statusCode !== 200) errors.push(`HTTP ${res.statusCode}: ${body}`);
          else at.push(t);
          resolve();
        });
      });
      req.once('error', (e) => {
        errors.push(e.message);
        resolve();
      });
      req.once('finish', () => {
        if (++sent === n) process.send({ type: 'sent', sent });
      });
      req.end();
    });
  Promise.all(Array.from({ length: n }, one)).then(
    () => {
      clearInterval(report);
      // The connections stay open until the parent ends this process after the last watcher of every process
      // answered: closing them here made the server close sockets while it still answered the other processes.
      process.send({ type: 'done', at, errors: errors.slice(0, 5), failed: errors.length });
    },
    () => process.exit(1),
  );
});
