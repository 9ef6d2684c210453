/**
 * One mutual-TLS connection pool for calls from this agent to other agents (client → server RPC, a client agent
 * forwarding API calls to a server, a server forwarding client requests to a client agent). The global fetch
 * cannot present a client certificate, so the calls go through undici's own dispatcher; sharing one per peer role
 * keeps connections reused and bounded (a dispatcher per caller leaked sockets and timers).
 *
 *   use(material) ─► new dispatcher for new requests ─► the old one closes once its requests end (SIGHUP reload)
 */
import type { PeerCertificate } from 'node:tls';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';

export interface TlsClientMaterial {
  /** PEM text: the CA to trust (only it), and this agent's certificate and key to present. */
  ca: string;
  cert: string;
  key: string;
  /** The peer check (a role name under verify_server_hostname); Node's host name check when absent. */
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

export class TlsFetch {
  private dispatcher: UndiciAgent;
  private current: TlsClientMaterial;

  constructor(material: TlsClientMaterial) {
    this.current = material;
    this.dispatcher = dispatcherFor(material);
  }

  /** The material in use now (node:https callers build their request options from it). */
  get material(): TlsClientMaterial {
    return this.current;
  }

  /** A fetch over the current dispatcher; stays valid across `use`. */
  readonly fetch: typeof fetch = ((input: string, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher: this.dispatcher } as never)) as unknown as typeof fetch;

  /** New material (SIGHUP): new requests use it; the old dispatcher closes once its requests end. */
  use(material: TlsClientMaterial): void {
    const old = this.dispatcher;
    this.current = material;
    this.dispatcher = dispatcherFor(material);
    old.close().catch(() => undefined);
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

function dispatcherFor(t: TlsClientMaterial): UndiciAgent {
  return new UndiciAgent({
    connect: {
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      ...(t.checkServerIdentity ? { checkServerIdentity: t.checkServerIdentity } : {}),
    },
  });
}
