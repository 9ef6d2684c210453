/** `drover gateway`: the gateway as its own process, following an agent's catalog over HTTP. */
import { badRequest } from '../errors/index.js';
import { startGateway } from './gateway.js';
import { startHaproxyGateway } from './haproxy/plane.js';
import { HttpCatalogSource } from './http-source.js';
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
  const common = {
    listen: asAddr(opts.listen ?? '127.0.0.1:8080'),
    admin: opts.admin === undefined ? undefined : asAddr(opts.admin),
    source,
    logger: opts.logger,
    lb: opts.lb,
  };
  const gw = opts.dataPlane === 'haproxy' ? await startHaproxyGateway(common) : await startGateway(common);
  opts.onStarted?.(gw);
  if (!opts.signal.aborted)
    await new Promise<void>((resolve) => opts.signal.addEventListener('abort', () => resolve(), { once: true }));
  await gw.close();
}
