/**
 * The agent gateway's HTTPS side (`gateway { tls_listen  tls { cert_file key_file }  acme { ... } }`): the default
 * certificate from files, SNI certificates followed from the Variables under nomad/gateway/certs/ (the server's
 * state in-process, or over HTTP on a client-only agent), and a timer that re-checks expiry so a certificate that
 * runs out while served is reported.
 *
 *   files ──► CertStore('file') ◄── followCertVariables(blocking query) ◄── Variables (ACME writes there too)
 */
import { readFile } from 'node:fs/promises';
import { DroverClient } from '../api/index.js';
import { DroverError } from '../errors/index.js';
import {
  CERTS_NAMESPACE,
  CERTS_PREFIX,
  CertStore,
  followCertVariables,
  httpCertQuery,
  type CertVariablesQuery,
  type GatewayTlsOptions,
} from '../gateway/index.js';
import type { Logger } from '../logging/index.js';
import type { Server } from '../server/index.js';
import type { AgentConfig } from './config.js';
import { parseListenAddress } from '../gateway/index.js';

/** How long one in-process blocking query holds before answering the same index again. */
const WAIT_MS = 5 * 60_000;
/** How often served certificates are re-checked for expiry. */
const RECHECK_MS = 60_000;

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

export interface GatewayTls {
  options: GatewayTlsOptions;
  /** Stops following the variables and the expiry timer. */
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
  const read = async (key: string, file: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (e) {
      throw new DroverError('BadRequest', `gateway.tls.${key}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  const [cert, key] = [await read('cert_file', g.tls.certFile), await read('key_file', g.tls.keyFile)];
  const certs = new CertStore(Date.now, (p) =>
    log.error('TLS certificate not served', { host: p.Host || '(default)', origin: p.Origin, problem: p.Problem }),
  );
  const [problem] = certs.set('file', [{ host: '', cert, key, source: 'file', origin: g.tls.certFile }]);
  if (problem)
    throw new DroverError('BadRequest', `gateway.tls: the default certificate ${g.tls.certFile}: ${problem.Problem}`);
  const stop = new AbortController();
  const query = server
    ? serverCertQuery(server)
    : httpCertQuery(new DroverClient({ address: config.client.servers[0] ?? '127.0.0.1:4646' }));
  const following = followCertVariables(query, certs, log, stop.signal).catch((err: unknown) => {
    if (!stop.signal.aborted) log.error('following the certificate variables stopped', { error: String(err) });
  });
  const timer = setInterval(() => certs.recompute(), RECHECK_MS);
  timer.unref();
  return {
    options: { listen: parseListenAddress(g.tlsListen), certs },
    async stop() {
      clearInterval(timer);
      stop.abort();
      await following;
    },
  };
}
