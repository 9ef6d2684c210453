/** `drover gateway`: the gateway as its own process, following an agent's catalog over HTTP. */
import { DroverClient } from '../api/index.js';
import { badRequest } from '../errors/index.js';
import { startGateway } from './gateway.js';
import { startHaproxyGateway } from './haproxy/plane.js';
import { HttpCatalogSource } from './http-source.js';
import { startTlsFromFiles } from './tls/setup.js';
import { httpCertQuery } from './tls/var-certs.js';
import type { Gateway, ListenAddress, LoadBalancing } from './types.js';
import type { Logger } from '../logging/index.js';

export interface GatewayProcessOptions {
  /** The agent to follow, e.g. `http://127.0.0.1:4646`. */
  address: string;
  /** `host:port` or an address object; default 127.0.0.1:8080. */
  listen?: string | ListenAddress;
  /** Admin listener for /routes and /metrics; when absent they are under /_drover/gateway/ on `listen`. */
  admin?: string | ListenAddress;
  namespace?: string;
  token?: string;
  lb?: LoadBalancing;
  /**
   * An HTTPS listener: the default certificate from files, SNI certificates from the followed agent's Variables
   * under nomad/gateway/certs/ (as the agent's gateway `tls_listen` / `tls { cert_file key_file }`).
   */
  tls?: { listen: string | ListenAddress; certFile: string; keyFile: string };
  /** `node` (default) forwards in this process; `haproxy` drives a local HAProxy with the same routes. */
  dataPlane?: 'node' | 'haproxy';
  logger: Logger;
  /** The process runs until this aborts, then drains and closes. */
  signal: AbortSignal;
  /** Called once the listeners are bound. */
  onStarted?: (gw: Gateway) => void;
}

/** Parses `host:port`, `[v6]:port` or `:port` (all interfaces). */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw badRequest(`invalid listen address "${text}": expected host:port, e.g. 127.0.0.1:8080`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Runs the gateway until `signal` aborts; resolves once it has closed. */
export async function runGatewayProcess(opts: GatewayProcessOptions): Promise<void> {
  const asAddr = (a: string | ListenAddress) => (typeof a === 'string' ? parseListenAddress(a) : a);
  const source = new HttpCatalogSource({
    address: opts.address,
    namespace: opts.namespace,
    token: opts.token,
    logger: opts.logger,
  });
  const listen = asAddr(opts.listen ?? '127.0.0.1:8080');
  const tls = opts.tls
    ? await startTlsFromFiles(
        {
          listen: asAddr(opts.tls.listen),
          certFile: opts.tls.certFile,
          keyFile: opts.tls.keyFile,
          names: { cert: '-tls-cert-file', key: '-tls-key-file' },
        },
        httpCertQuery(new DroverClient({ address: opts.address, token: opts.token })),
        opts.logger,
      )
    : undefined;
  const common = {
    listen,
    admin: opts.admin === undefined ? undefined : asAddr(opts.admin),
    source,
    logger: opts.logger,
    lb: opts.lb,
    tls: tls?.options,
    // redirect=https sends clients to the TLS listener's port (left out of the URL when it is 443 or not fixed).
    httpsPort: tls && tls.options.listen.port !== 0 ? tls.options.listen.port : undefined,
  };
  let gw: Gateway;
  try {
    gw = opts.dataPlane === 'haproxy' ? await startHaproxyGateway(common) : await startGateway(common);
  } catch (e) {
    await tls?.stop();
    throw e;
  }
  opts.onStarted?.(gw);
  if (!opts.signal.aborted)
    await new Promise<void>((resolve) => opts.signal.addEventListener('abort', () => resolve(), { once: true }));
  try {
    await gw.close();
  } finally {
    // Even when closing the listeners failed: the certificate-variable watch must not outlive the process's run.
    await tls?.stop();
  }
}
