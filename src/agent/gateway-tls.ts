/**
 * The agent gateway's HTTPS side (`gateway { tls_listen  tls { cert_file key_file }  acme { ... } }`):
 * startTlsFromFiles (src/gateway/tls/setup.ts, shared with the standalone gateway) loads the default certificate,
 * follows the Variables under nomad/gateway/certs/ (the server's state in-process, or over HTTP on a client-only
 * agent) and re-checks expiry. With `acme { }`, an AcmeIssuer (src/gateway/tls/acme.ts) orders the
 * certificates into those same Variables once the gateway listens, and answers the CA's HTTP-01 requests.
 *
 *   files ──► CertStore('file') ◄── followCertVariables(blocking query) ◄── Variables (ACME writes there too)
 */
import { DroverClient, isApiError } from '../api/index.js';
import { DroverError } from '../errors/index.js';
import {
  CERTS_NAMESPACE,
  CERTS_PREFIX,
  httpCertQuery,
  parseListenAddress,
  readCaBundle,
  startTlsFromFiles,
  AcmeIssuer,
  type AcmeVariableStore,
  type CertVariablesQuery,
  type GatewayTlsOptions,
  type RouteInfo,
} from '../gateway/index.js';
import type { Logger } from '../logging/index.js';
import type { Server } from '../server/index.js';
import type { AgentConfig } from './config.js';

/** How long one in-process blocking query holds before answering the same index again. */
const WAIT_MS = 5 * 60_000;
/** Variable paths per page when the ACME issuer lists them over HTTP: each answer stays small. */
export const ACME_LIST_PAGE = 100;

/** The certificate variables, read from the server's own state. */
export function serverCertQuery(server: Pick<Server, 'vars'>): CertVariablesQuery {
  return async (minIndex, signal) => {
    const q = { namespace: CERTS_NAMESPACE, prefix: CERTS_PREFIX, minIndex, waitMs: WAIT_MS, signal };
    const list = await server.vars.list(q);
    const vars = await Promise.all(list.value.map((m) => server.vars.get(CERTS_NAMESPACE, m.Path)));
    return {
      index: list.index,
      value: vars.flatMap((v) => (v.value ? [{ Path: v.value.Path, Items: v.value.Items ?? {} }] : [])),
    };
  };
}

/** Certificate variables read and written with check-and-set, on the server's state or over HTTP. */
export function acmeVariableStore(server: Server | undefined, client: DroverClient): AcmeVariableStore {
  if (server)
    return {
      async get(path) {
        const v = (await server.vars.get(CERTS_NAMESPACE, path)).value;
        return v ? { Items: v.Items ?? {}, ModifyIndex: v.ModifyIndex } : undefined;
      },
      async put(path, items, cas) {
        return (await server.vars.put({ Namespace: CERTS_NAMESPACE, Path: path, Items: items }, { cas })).ok;
      },
      async delete(path) {
        await server.vars.delete(CERTS_NAMESPACE, path);
      },
      async list(prefix) {
        // In-process: the whole list is one page.
        return { paths: (await server.vars.list({ namespace: CERTS_NAMESPACE, prefix })).value.map((m) => m.Path) };
      },
    };
  return {
    async get(path, signal) {
      try {
        const v = (await client.variables.get(path, { namespace: CERTS_NAMESPACE, signal })).value;
        return { Items: v.Items ?? {}, ModifyIndex: v.ModifyIndex };
      } catch (e) {
        if (isApiError(e) && e.httpStatus === 404) return undefined;
        throw e;
      }
    },
    async put(path, items, cas, signal) {
      return (await client.variables.put(path, items, { namespace: CERTS_NAMESPACE, cas, signal })).ok;
    },
    async delete(path, signal) {
      await client.variables.delete(path, { namespace: CERTS_NAMESPACE, signal });
    },
    async list(prefix, signal, nextToken) {
      const res = await client.variables.list({
        namespace: CERTS_NAMESPACE,
        prefix,
        perPage: ACME_LIST_PAGE,
        nextToken,
        signal,
      });
      return { paths: res.value.map((m) => m.Path), nextToken: res.nextToken };
    },
  };
}

export interface GatewayTls {
  options: GatewayTlsOptions;
  /**
   * Starts ordering ACME certificates (when `acme { }` is set) once the gateway answers on its plain listener,
   * for the `domains` or else the hosts `routes()` gives.
   */
  startIssuing(routes: () => RouteInfo[]): void;
  /** Stops following the variables, the expiry timer and the ACME issuer. */
  stop(): Promise<void>;
}

/** Loads the default certificate and starts following the variables; undefined without `tls_listen`. */
export async function startGatewayTls(
  config: AgentConfig,
  server: Server | undefined,
  log: Logger,
): Promise<GatewayTls | undefined> {
  const g = config.gateway;
  if (g.tlsListen === undefined) return undefined;
  if (!g.tls) throw new DroverError('BadRequest', 'gateway.tls_listen needs a tls { cert_file key_file } block');
  // The ACME CA bundle is read and checked first: a missing or bad ca_file stops the start with its name before
  // anything is started (Node would take any text as a CA and fail only the first order, minutes later).
  const acme = g.acme;
  const ca = acme?.caFile === undefined ? undefined : await readCaBundle('gateway.acme.ca_file', acme.caFile);
  // A client-only agent reads and (for ACME) writes nomad/gateway/* through its server's API; with ACLs on that
  // takes the token in its environment, as its node registration does (policy: docs/operations.md, ACME).
  const token = process.env['DROVER_TOKEN'] || process.env['NOMAD_TOKEN'] || undefined;
  const client = new DroverClient({ address: config.client.servers[0] ?? '127.0.0.1:4646', token });
  const files = await startTlsFromFiles(
    {
      listen: parseListenAddress(g.tlsListen),
      certFile: g.tls.certFile,
      keyFile: g.tls.keyFile,
      names: { cert: 'gateway.tls.cert_file', key: 'gateway.tls.key_file', certificate: 'gateway.tls' },
    },
    server ? serverCertQuery(server) : httpCertQuery(client),
    log,
  );
  const certs = files.options.certs;
  const stop = new AbortController();
  const issuer = acme
    ? new AcmeIssuer({
        settings: {
          directory: acme.directory,
          email: acme.email,
          ca,
          domains: acme.domains,
          renewBeforeMs: acme.renewBeforeMs,
        },
        store: acmeVariableStore(server, client),
        logger: log.child({ component: 'acme' }),
        onFailures: (entries) => certs.set('acme', entries),
      })
    : undefined;
  let issuing: Promise<void> | undefined;
  return {
    options: {
      ...files.options,
      acmeChallenge: issuer && ((token) => issuer.challenge(token)),
    },
    startIssuing(routes) {
      if (!issuer || issuing) return;
      issuer.routeHosts = () => routeHosts(routes());
      issuing = issuer.run(stop.signal);
    },
    async stop() {
      stop.abort();
      await files.stop();
      await issuing;
    },
  };
}

/** The DNS names of HTTP routes that serve: the hosts ACME orders for when `domains` is not set. */
export function routeHosts(routes: RouteInfo[]): string[] {
  return routes.filter((r) => r.Host !== '' && (r.Proto ?? 'http').startsWith('http') && !r.Error).map((r) => r.Host);
}
