/**
 * The CLI's TLS to an agent: `-ca-cert`, `-client-cert`, `-client-key`, `-tls-server-name` (env NOMAD_CACERT,
 * NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME, or the DROVER_* spellings). With none given the
 * CLI uses the plain global fetch. undici is imported on the first request, so only TLS runs pay for loading it.
 */
import { readFileSync } from 'node:fs';
import { checkServerIdentity } from 'node:tls';
import type { FetchLike } from '../api/index.js';
import { UsageError } from './command.js';

export interface CliTls {
  caCert?: string;
  clientCert?: string;
  clientKey?: string;
  serverName?: string;
}

function read(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`Error: ${flag} ${file}: ${(e as Error).message}`);
  }
}

/** The same TLS as node:tls options (the websocket of `alloc exec`), or undefined when no TLS option is set. */
export function tlsOptions(
  t: CliTls,
):
  | { ca?: string; cert?: string; key?: string; servername?: string; checkServerIdentity?: typeof checkServerIdentity }
  | undefined {
  if (!t.caCert && !t.clientCert && !t.clientKey && !t.serverName) return undefined;
  if (!!t.clientCert !== !!t.clientKey) throw new UsageError('Error: -client-cert and -client-key go together');
  const serverName = t.serverName;
  return {
    ...(t.caCert ? { ca: read('-ca-cert', t.caCert) } : {}),
    ...(t.clientCert ? { cert: read('-client-cert', t.clientCert), key: read('-client-key', t.clientKey!) } : {}),
    ...(serverName
      ? { servername: serverName, checkServerIdentity: (_h: string, c) => checkServerIdentity(serverName, c) }
      : {}),
  };
}

/** A fetch that speaks TLS as configured, or undefined when no TLS option is set. */
export function tlsFetch(t: CliTls): FetchLike | undefined {
  if (!t.caCert && !t.clientCert && !t.clientKey && !t.serverName) return undefined;
  if (!!t.clientCert !== !!t.clientKey) throw new UsageError('Error: -client-cert and -client-key go together');
  const serverName = t.serverName;
  // The files are read now, so a bad path is a usage error before any request.
  const connect = {
    ...(t.caCert ? { ca: read('-ca-cert', t.caCert) } : {}),
    ...(t.clientCert ? { cert: read('-client-cert', t.clientCert), key: read('-client-key', t.clientKey!) } : {}),
    ...(serverName
      ? {
          servername: serverName,
          checkServerIdentity: (_host: string, cert: import('node:tls').PeerCertificate) =>
            checkServerIdentity(serverName, cert),
        }
      : {}),
  };
  let undici: Promise<{ fetch: typeof import('undici').fetch; dispatcher: import('undici').Agent }> | undefined;
  return (async (input: string, init?: RequestInit) => {
    undici ??= import('undici').then((u) => ({ fetch: u.fetch, dispatcher: new u.Agent({ connect }) }));
    const { fetch, dispatcher } = await undici;
    return fetch(input, { ...(init as object), dispatcher } as never);
  }) as unknown as FetchLike;
}
