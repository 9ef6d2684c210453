/**
 * Certificates from Drover Variables: one variable per host at `nomad/gateway/certs/<host>` (namespace
 * `default`) with the items `cert` (PEM, leaf first, then intermediates) and `key` (PEM private key). Variable
 * paths take letters, digits, `-`, `_`, `~` and `/` only (as Nomad's), so the host is written with `_` for each
 * `.` and a leading `~` for a wildcard: `shop.example.com` at `nomad/gateway/certs/shop_example_com`,
 * `*.example.com` at `nomad/gateway/certs/~_example_com` (`_` and `~` are not host name characters, so the
 * mapping is one to one). ACME certificates are written to the same place, so every gateway shares them.
 *
 *   blocking list of the prefix --new index--> read each variable --> CertStore.set('variable', entries)
 */
import type { DroverClient } from '../../api/index.js';
import type { Logger } from '../../logging/index.js';
import { watchBlocking } from '../blocking-source.js';
import { validHost, type CertEntry, type CertStore } from './certs.js';

export const CERTS_PREFIX = 'nomad/gateway/certs/';
export const CERTS_NAMESPACE = 'default';

/** A variable as the gateway needs it. */
export interface CertVariable {
  Path: string;
  Items: Record<string, string>;
}

/** Blocks until the variables under CERTS_PREFIX change past `minIndex`, then answers all of them. */
export type CertVariablesQuery = (
  minIndex: number,
  signal: AbortSignal,
) => Promise<{ index: number; value: CertVariable[] }>;

/** The variable path for a host: `.` as `_`, a leading `*` as `~`. */
export function certVariablePath(host: string): string {
  return CERTS_PREFIX + host.replace(/^\*/, '~').replace(/\./g, '_');
}

/** The host a variable path names (the inverse of certVariablePath). */
export function hostOfCertPath(path: string): string {
  return path.slice(CERTS_PREFIX.length).replace(/^~/, '*').replace(/_/g, '.').toLowerCase();
}

/** One variable as a certificate entry; a malformed one carries its problem. */
export function variableToEntry(v: CertVariable): CertEntry {
  const seg = v.Path.slice(CERTS_PREFIX.length);
  const host = hostOfCertPath(v.Path);
  const entry: CertEntry = {
    host,
    cert: v.Items['cert'] ?? '',
    key: v.Items['key'] ?? '',
    source: 'variable',
    origin: v.Path,
  };
  const missing = ['cert', 'key'].filter((k) => (v.Items[k] ?? '').trim() === '');
  if (!validHost(host))
    entry.problem = `"${seg}" names no host (write shop.example.com as nomad/gateway/certs/shop_example_com, *.example.com as ~_example_com)`;
  else if (missing.length > 0)
    entry.problem = `the variable has no ${missing.join(' and ')} item (it needs cert and key, PEM)`;
  return entry;
}

/** Follows the certificate variables into `store` until `signal` aborts. */
export async function followCertVariables(
  query: CertVariablesQuery,
  store: CertStore,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const onRetry = (error: string, retryInMs: number) =>
    logger.warn('reading the certificate variables failed; retrying', { error, retryInMs });
  for await (const vars of watchBlocking(query, signal, onRetry)) {
    store.set('variable', vars.filter((v) => v.Path.startsWith(CERTS_PREFIX)).map(variableToEntry));
    logger.debug('certificate variables read', { count: vars.length });
  }
}

/** The query over an agent's HTTP API (a client-only agent, or a standalone gateway). */
export function httpCertQuery(client: DroverClient, waitMs = 5 * 60_000): CertVariablesQuery {
  return async (minIndex, signal) => {
    const q = { namespace: CERTS_NAMESPACE, prefix: CERTS_PREFIX, signal };
    const list = await client.variables.list({ ...q, index: minIndex, wait: waitMs });
    const vars = await Promise.all(list.value.map((m) => client.variables.get(m.Path, q)));
    return { index: list.index, value: vars.map((v) => ({ Path: v.value.Path, Items: v.value.Items ?? {} })) };
  };
}
