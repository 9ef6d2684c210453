/**
 * The agent's DNS server (`<service>.service.<domain>`, passing instances only). An agent with a server reads
 * the server's state at every query; a client-only agent follows the catalog of its servers with blocking
 * queries (CatalogFollower) and answers from that copy.
 */
import { CatalogFollower, registrationDnsSource, startDnsServer, type DnsServer } from '../discovery/index.js';
import type { Logger } from '../logging/index.js';
import type { ServiceRegistration } from '../structs/index.js';
import type { Server } from '../server/index.js';
import type { AgentConfig } from './config.js';

export interface AgentDns {
  server: DnsServer;
  /**
   * Answers also on `host:port` (a bridge gateway, port 53, for tasks in bridge mode). Resolves false when that
   * address cannot be bound; binds each address once.
   */
  listenOn(host: string, port: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Starts DNS when enabled; a port already taken is logged and the agent runs on without DNS. */
export async function startAgentDns(
  config: AgentConfig,
  server: Server | undefined,
  logger: Logger,
): Promise<AgentDns | undefined> {
  if (!config.dns.enabled) return undefined;
  const log = logger.child({ component: 'dns' });
  const ctl = new AbortController();
  let follower: Promise<void> | undefined;
  let list: () => Iterable<ServiceRegistration>;
  if (server) {
    list = () => server.services.registrations();
  } else {
    const first = config.client.servers[0];
    if (!first) return undefined;
    // As HttpServerRPC reads the servers list: a bare host means the HTTP port 4646.
    const url = new URL(/^https?:\/\//.test(first) ? first : `http://${first}`);
    if (!url.port) url.port = '4646';
    const f = new CatalogFollower({ address: url.origin, logger: log });
    follower = f.run(ctl.signal).catch((e: unknown) => log.warn('catalog follower ended', { err: String(e) }));
    list = () => f.registrations();
  }
  const options = {
    domain: config.dns.domain,
    datacenter: config.datacenter,
    source: registrationDnsSource(list, { datacenter: config.datacenter }),
    logger,
  };
  try {
    const dns = await startDnsServer({ ...options, host: config.bindAddr, port: config.ports.dns });
    const extra = new Map<string, Promise<DnsServer | undefined>>();
    return {
      server: dns,
      listenOn(host, port) {
        const key = `${host}:${port}`;
        let bound = extra.get(key);
        if (!bound) {
          bound = startDnsServer({ ...options, host, port }).catch((e: unknown) => {
            log.warn('dns server not started on a bridge address', {
              host,
              port,
              err: e instanceof Error ? e.message : String(e),
            });
            extra.delete(key);
            return undefined;
          });
          extra.set(key, bound);
        }
        return bound.then((s) => s !== undefined);
      },
      async stop() {
        ctl.abort();
        await dns.close();
        for (const s of await Promise.all(extra.values())) await s?.close();
        await follower;
      },
    };
  } catch (e) {
    ctl.abort();
    await follower;
    log.warn('dns server not started', {
      host: config.bindAddr,
      port: config.ports.dns,
      err: e instanceof Error ? e.message : String(e),
    });
    return undefined;
  }
}
