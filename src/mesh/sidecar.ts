/**
 * The sidecar process: `node dist/mesh/sidecar.js <config file>`, started by the client's connect_proxy driver
 * inside the allocation's network namespace. It cannot reach the agent's API from there, so the agent writes
 * everything it needs (leaf, roots, intentions, upstream instances) into the config file, and this process
 * re-reads the file whenever it changes (certificate rotation and intention changes apply without a restart).
 */
import { readFile, stat } from 'node:fs/promises';
import { pinoLogger } from '../logging/index.js';
import { SidecarProxy, type SidecarConfig } from './proxy.js';

const POLL_MS = 250;

async function main(path: string): Promise<void> {
  const log = pinoLogger(process.env.DROVER_SIDECAR_LOG_LEVEL ?? 'info').child({ component: 'sidecar' });
  const proxy = new SidecarProxy(log);
  let seen = '';
  const load = async () => {
    const st = await stat(path);
    const version = `${st.mtimeMs}:${st.size}`;
    if (version === seen) return;
    const cfg = JSON.parse(await readFile(path, 'utf8')) as SidecarConfig;
    await proxy.update(cfg);
    seen = version;
    log.info('sidecar config applied', { service: cfg.Service, upstreams: cfg.Upstreams.length });
  };
  await load();
  // One load at a time: under load a read and update can outlast the poll interval, and an older read finishing
  // after a newer one would put back the config it replaced (an intention just lifted, for a poll interval).
  let loading = false;
  const timer = setInterval(() => {
    if (loading) return;
    loading = true;
    load()
      .catch((e: unknown) => log.warn('sidecar config not applied', { err: String(e) }))
      .finally(() => (loading = false));
  }, POLL_MS);
  const stop = () => {
    clearInterval(timer);
    proxy
      .close()
      .catch(() => {})
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: sidecar.js <config file>\n');
  process.exit(2);
}
main(path).catch((e: unknown) => {
  process.stderr.write(`sidecar: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
