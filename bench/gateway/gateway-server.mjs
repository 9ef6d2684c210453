/* global process */
// The gateway under test, as its own process (so the benchmark's driver does not share its event loop).
// Config comes as JSON in argv[2]: { ports: number[], listenPort: number, workers: number, lb: string,
// plane: 'node' | 'haproxy', threads?: number, tls?: { port, certFile, keyFile } }. With `tls` the gateway also
// has its HTTPS listener on tls.port, the default certificate read from the files as `drover gateway -tls-*` does.
// With the Node plane and workers > 1 it runs under node:cluster, every worker serving the same listening socket.
import cluster from 'node:cluster';
import { startGateway, startHaproxyGateway, MemorySource } from '../../dist/gateway/index.js';
import { nullLogger } from '../../dist/logging/index.js';
import { startTlsFromFiles } from '../../dist/gateway/tls/setup.js';

const cfg = JSON.parse(process.argv[2]);

if (cfg.plane !== 'haproxy' && cfg.workers > 1 && cluster.isPrimary) {
  // Round-robin accept in the primary would add a hop per connection; let the kernel spread accepts instead.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let ready = 0;
  for (let i = 0; i < cfg.workers; i++) {
    cluster.fork().on('message', (m) => {
      if (m === 'ready' && ++ready === cfg.workers) process.send?.({ port: cfg.listenPort, tlsPort: cfg.tls?.port });
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  });
  cluster.on('exit', () => {}); // workers leave with the primary; nothing to restart in a benchmark
} else {
  const instances = cfg.ports.map((port, i) => ({
    ID: `backend-${i}`,
    ServiceName: 'bench',
    Address: '127.0.0.1',
    Port: port,
    Tags: ['urlprefix-/'],
    AllocID: `alloc-${i}`,
    NodeID: 'node',
    Healthy: true,
  }));
  const tls = cfg.tls
    ? await startTlsFromFiles(
        {
          listen: { host: '127.0.0.1', port: cfg.tls.port },
          certFile: cfg.tls.certFile,
          keyFile: cfg.tls.keyFile,
          names: { cert: 'tls.certFile', key: 'tls.keyFile' },
        },
        undefined,
        nullLogger,
      )
    : undefined;
  const common = {
    tls: tls?.options,
    listen: { host: '127.0.0.1', port: cfg.listenPort },
    admin: { host: '127.0.0.1', port: 0 },
    source: new MemorySource(instances),
    logger: nullLogger,
    lb: cfg.lb ?? 'round_robin',
  };
  const gw =
    cfg.plane === 'haproxy'
      ? await startHaproxyGateway({ ...common, threads: cfg.threads })
      : await startGateway({ ...common, responseTimeoutMs: cfg.responseTimeoutMs, fastPath: cfg.fastPath });
  await gw.ready();
  // The driver (or the cluster primary) may go away first: then there is nobody to report to, and nothing to do.
  process.on('disconnect', () => void gw.close(200).then(() => process.exit(0)));
  if (cluster.isWorker) process.send?.('ready');
  else process.send?.({ port: gw.port, adminPort: gw.adminPort, tlsPort: gw.tlsPort });
  process.on('SIGTERM', () => void gw.close(500).then(() => process.exit(0)));
}
