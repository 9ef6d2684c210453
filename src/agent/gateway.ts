/**
 * The agent's gateway (`gateway { enabled, listen, admin, lb, data_plane }`): the L7 proxy fed by the catalog.
 * An agent with a server feeds it straight from the server's state with blocking queries on the
 * service_registrations table (no HTTP hop); a client-only agent follows its servers over HTTP, as the
 * standalone `drover gateway` does, moving to the next one in `client.servers` when one fails. Unlike DNS, a
 * gateway whose port is taken stops the agent from starting: the user asked for traffic on that port, and a
 * silent agent without it would look like a routing bug.
 *
 * Data plane (`data_plane`): `auto`, the default, runs HAProxy (about nginx's speed) when an haproxy binary is on
 * PATH and otherwise the Node plane, with a warning saying what the user gives up; an HAProxy that will not
 * start falls back the same way. `haproxy` and `node` are taken as asked, with no fallback.
 */
import { parsePortRanges, type PortRanges } from '../gateway/routes.js';
import { DroverError } from '../errors/index.js';
import {
  BlockingQuerySource,
  findExecutable,
  HttpCatalogSource,
  parseListenAddress,
  registrationToInstance,
  startGateway,
  startHaproxyGateway,
  type BlockingQuery,
  type CatalogSource,
  type DataPlane,
  type Gateway,
} from '../gateway/index.js';
import { startGatewayTls } from './gateway-tls.js';
import type { Logger } from '../logging/index.js';
import type { Server } from '../server/index.js';
import type { AgentConfig } from './config.js';
import { VariableAuthSource } from './gateway-auth.js';

/** How long one in-process blocking query holds before answering the same index again. */
const WAIT_MS = 5 * 60_000;

/**
 * A blocking query over every namespace's registrations: the server's own catalog query gives the index (and
 * does the waiting); the rows are read right after, so they are at least as new as that index. Every instance
 * is passed on with its health, so the gateway serves passing ones only and answers 503 naming a route whose
 * instances all fail, as with the HTTP source.
 */
export function serverCatalogQuery(server: Pick<Server, 'services'>): BlockingQuery {
  return async (minIndex, signal) => {
    const { index } = await server.services.list({ namespace: '*', minIndex, waitMs: WAIT_MS, signal });
    return { index, instances: server.services.registrations().map(registrationToInstance) };
  };
}

/**
 * The plane to start for the `data_plane` setting, and why when `auto` cannot have HAProxy. `hasHaproxy` is
 * injected so the choice is tested without touching PATH.
 */
export function chooseDataPlane(
  setting: AgentConfig['gateway']['dataPlane'],
  hasHaproxy: () => boolean = () => findExecutable('haproxy') !== undefined,
): { plane: DataPlane; fallbackReason?: string } {
  if (setting !== 'auto') return { plane: setting };
  if (hasHaproxy()) return { plane: 'haproxy' };
  return { plane: 'node', fallbackReason: 'no haproxy binary on PATH' };
}

/**
 * The Connect sidecar's data plane for `client { connect { sidecar_data_plane } }`: `auto` takes HAProxy when
 * the binary is on PATH, else the Node proxy with one warning (as the gateway's `data_plane`).
 */
export function chooseSidecarDataPlane(
  setting: AgentConfig['client']['connect']['sidecarDataPlane'],
  logger: Pick<Logger, 'warn'>,
  hasHaproxy?: () => boolean,
): DataPlane {
  const { plane, fallbackReason } = chooseDataPlane(setting, hasHaproxy);
  if (fallbackReason)
    logger.warn(
      'Connect sidecars run on the built-in Node proxy, which costs several times the CPU per request of HAProxy; install haproxy, or set client { connect { sidecar_data_plane = "node" } } to choose it',
      { reason: fallbackReason },
    );
  return plane;
}

const FALLBACK_HINT =
  'the gateway runs on the Node data plane, slower than HAProxy (about 0.7 of its requests per second, 3× its p99); install haproxy, or set gateway { data_plane = "node" } to choose it';

/** Starts the gateway when the config enables it; rejects with a message naming the port when it is taken. */
export async function startAgentGateway(
  config: AgentConfig,
  server: Server | undefined,
  logger: Logger,
): Promise<Gateway | undefined> {
  const g = config.gateway;
  if (!g.enabled) return undefined;
  const log = logger.child({ component: 'gateway' });
  let source: CatalogSource;
  if (server) {
    source = new BlockingQuerySource(serverCatalogQuery(server), log);
  } else {
    if (config.client.servers.length === 0)
      throw new DroverError('BadRequest', 'gateway: a client-only agent needs client.servers to follow their catalog');
    source = new HttpCatalogSource({
      address: config.client.servers.map((s) => (/^https?:\/\//.test(s) ? s : `http://${s}`)),
      namespace: '*',
      logger: log,
      // With ACLs on, the catalog is read with the token in the agent's environment (as its node registers).
      token: process.env['DROVER_TOKEN'] || process.env['NOMAD_TOKEN'] || undefined,
    });
  }
  const listen = parseListenAddress(g.listen);
  // auth= users come from the server's Variables; a client-only agent has none (its auth routes answer 401).
  const auth = server ? new VariableAuthSource(server, log) : undefined;
  const authStop = new AbortController();
  if (auth) await auth.load(authStop.signal);
  const tls = await startGatewayTls(config, server, log).catch((e: unknown) => {
    authStop.abort();
    throw e;
  });
  const opts = {
    listen,
    admin: g.admin ? parseListenAddress(g.admin) : undefined,
    source,
    logger: log,
    lb: g.lb,
    fastPath: g.fastPath,
    tcpPorts: g.tcpPorts === undefined ? undefined : (parsePortRanges(g.tcpPorts) as PortRanges),
    auth,
    tls: tls?.options,
    // redirect=https sends clients to the TLS listener's port (left out of the URL when it is 443 or not fixed).
    httpsPort: tls && tls.options.listen.port !== 0 ? tls.options.listen.port : undefined,
  };
  const started = await startPlane(config, opts, log, listen).catch(async (e: unknown) => {
    authStop.abort();
    await tls?.stop();
    throw e;
  });
  tls?.startIssuing(() => started.routes());
  if (!auth && !tls) return started;
  const following = auth?.follow(authStop.signal);
  return {
    ...started,
    routes: () => started.routes(),
    async close(graceMs?: number) {
      authStop.abort();
      await following;
      await started.close(graceMs);
      await tls?.stop();
    },
  };
}

async function startPlane(
  config: AgentConfig,
  opts: Parameters<typeof startGateway>[0],
  log: Logger,
  listen: { host: string; port: number },
): Promise<Gateway> {
  const g = config.gateway;
  const { plane, fallbackReason } = chooseDataPlane(g.dataPlane);
  if (fallbackReason) log.warn(`${fallbackReason}: ${FALLBACK_HINT}`, { dataPlane: 'node' });
  try {
    if (plane === 'node') return await startGateway(opts);
    if (g.dataPlane === 'haproxy') return await startHaproxyGateway(opts);
    try {
      return await startHaproxyGateway(opts);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw e;
      log.warn(`HAProxy did not start (${String(e)}): ${FALLBACK_HINT}`, { dataPlane: 'node' });
      return await startGateway(opts);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const hint = config.dev
        ? 'pick another with -gateway-port N (0 = any free port)'
        : 'change gateway.listen in the agent config';
      throw new DroverError(
        'Unavailable',
        `gateway: port ${listen.port} on ${listen.host} is already in use${g.admin ? ` (or admin address ${g.admin})` : ''}${g.tlsListen ? ` (or tls_listen ${g.tlsListen})` : ''}; ${hint}`,
        { cause: e },
      );
    }
    throw e;
  }
}

/** The URL users reach the gateway at, e.g. `http://127.0.0.1:8080` (the bound port, for `:0` listens). */
export function gatewayUrl(listen: string, port: number): string {
  const { host } = parseListenAddress(listen);
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}
