#!/usr/bin/env node
/* global process, performance, setInterval, clearInterval, Buffer, URL */
// One watcher process of the follower-fanout benchmark (forked, IPC). Told `{ url, n, closeEach }`, it holds `n` blocking
// queries on `url`, each on its own connection, and reports to its parent:
//   { type: 'sent', sent }            every request written (sent once all are, and every 500 ms before)
//   { type: 'early', what }           the first answer, if it came before the parent said `armed`
//   { type: 'done', at, errors, cpuSeconds }  every answer's time (ms since the epoch, sub-ms: performance.timeOrigin
//                                     + performance.now(), comparable between processes on one machine), and
//                                     the CPU seconds this process used from being armed to its last answer
// Several of these share the answers' reading (one process reading 10,000 answers was itself a bottleneck).
//
// The watchers are raw `net` sockets with a minimal HTTP/1.1 reader: the status line and Content-Length are
// parsed, the body's bytes only counted, and an answer is timed when its last byte has arrived. node:http's
// client (an Agent, a parser and a response stream per answer) cost these processes several times what the
// server spent per answer, on the same 2 cores the server answers on; the figure is about the server.
import { connect } from 'node:net';

// The parent ends this process; if the parent itself goes away, so does this one.
process.once('disconnect', () => process.exit(1));

const HEADER_END = Buffer.from('\r\n\r\n');

process.once('message', ({ url, n, closeEach }) => {
  const u = new URL(url);
  // Keep-alive, as real watchers (a client's alloc query, consul-template) hold their connections: with
  // `Connection: close` the server spent a third of its time shutting sockets down after each answer.
  const request = Buffer.from(
    `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n${closeEach ? 'Connection: close\r\n' : ''}\r\n`,
  );
  let sent = 0;
  let armed = false;
  const at = [];
  const errors = [];
  /** This process's CPU when the parent armed it (just before the write): its share of the window. */
  let armedCpu;
  process.on('message', (m) => {
    if (m?.type === 'armed') {
      armed = true;
      armedCpu = process.cpuUsage();
    }
  });
  const report = setInterval(() => process.send({ type: 'sent', sent }), 500);
  const one = () =>
    new Promise((resolve) => {
      const socket = connect(Number(u.port), u.hostname);
      let head = Buffer.alloc(0);
      /** Body bytes still to come once the header block is read (-1: not yet). */
      let remaining = -1;
      let status = 0;
      let settled = false;
      const finish = (error) => {
        if (settled) return;
        settled = true;
        const t = performance.timeOrigin + performance.now();
        if (!armed && at.length === 0 && errors.length === 0)
          process.send({ type: 'early', what: error ?? `HTTP ${status}: ${head.toString('latin1', 0, 300)}` });
        if (error !== undefined) errors.push(error);
        else if (status !== 200) errors.push(`HTTP ${status}: ${head.toString('latin1', 0, 300)}`);
        else at.push(t);
        resolve();
      };
      socket.on('data', (b) => {
        if (remaining < 0) {
          head = head.length === 0 ? b : Buffer.concat([head, b]);
          const end = head.indexOf(HEADER_END);
          if (end < 0) return;
          status = Number(head.toString('latin1', 9, 12));
          const m = /\r\ncontent-length: *(\d+)/i.exec(head.toString('latin1', 0, end));
          if (!m) return finish(`answer without Content-Length: ${head.toString('latin1', 0, 300)}`);
          remaining = Number(m[1]) - (head.length - end - 4);
        } else remaining -= b.length;
        if (remaining <= 0) finish();
      });
      socket.once('error', (e) => finish(e.message));
      socket.once('close', () => finish('connection closed before the whole answer arrived'));
      socket.write(request, () => {
        if (++sent === n) process.send({ type: 'sent', sent });
      });
    });
  Promise.all(Array.from({ length: n }, one)).then(
    () => {
      clearInterval(report);
      // The connections stay open until the parent ends this process after the last watcher of every process
      // answered: closing them here made the server close sockets while it still answered the other processes.
      const cpu = process.cpuUsage(armedCpu);
      const cpuSeconds = armedCpu ? (cpu.user + cpu.system) / 1e6 : undefined;
      process.send({ type: 'done', at, errors: errors.slice(0, 5), failed: errors.length, cpuSeconds });
    },
    () => process.exit(1),
  );
});
