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
  try {
    const dns = await startDnsServer({
      host: config.bindAddr,
      port: config.ports.dns,
      domain: config.dns.domain,
      datacenter: config.datacenter,
      source: registrationDnsSource(list, { datacenter: config.datacenter }),
      logger,
    });
    return {
      server: dns,
      async stop() {
        ctl.abort();
        await dns.close();
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
