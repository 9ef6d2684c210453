/**
 * `drover agent -dev [-data-dir DIR] [-config FILE ...] [-bind ADDR] [-http-port N] [-gateway-port N] [-log-level L]`: runs the
 * agent in this process until SIGINT/SIGTERM, then stops it gracefully. The one command that does not go
 * through the API: it is the API.
 */
import { once } from 'node:events';
import { command, bool, int, str, strs, UsageError, type AgentFlags, type StartAgentFn } from '../command.js';
import { buildAgentConfig } from './agent-config.js';

/** Loads the agent module only here, so other commands never pay for it. */
const startInProcess: StartAgentFn = async (flags) => {
  const mod = await import('../../agent/index.js');
  const config = await buildAgentConfig(flags, mod);
  const running = await mod.startAgent(config);
  const dns = running.dns;
  const gw = running.gateway;
  // SIGHUP reloads the TLS certificates, as Nomad's agent does; a bad file keeps the old ones and is logged.
  const onHup = () => {
    try {
      running.reloadTls();
    } catch (e) {
      running.logger.error('TLS reload failed; keeping the previous certificates', { err: String(e) });
    }
  };
  process.on('SIGHUP', onHup);
  return {
    stop: () => {
      process.off('SIGHUP', onHup);
      return running.stop();
    },
    address: running.http.address,
    dnsAddress: dns ? `${dns.host}:${dns.port}` : undefined,
    gatewayAddress: gw ? mod.gatewayUrl(config.gateway.listen, gw.port) : undefined,
    gatewayPlane: gw?.dataPlane,
    gatewayTlsAddress:
      gw?.tlsPort !== undefined && config.gateway.tlsListen
        ? mod.gatewayUrl(config.gateway.tlsListen, gw.tlsPort).replace(/^http:/, 'https:')
        : undefined,
  };
};

export function agentFlags(opts: Record<string, unknown>): AgentFlags {
  const servers = strs(opts.servers)
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const etcd = strs(opts.etcd)
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    dev: bool(opts.dev),
    dataDir: str(opts.dataDir),
    configFiles: strs(opts.config),
    bindAddr: str(opts.bind),
    httpPort: int(opts.httpPort),
    dnsPort: int(opts.dnsPort),
    gatewayPort: int(opts.gatewayPort),
    logLevel: str(opts.logLevel),
    nodeName: str(opts.node),
    datacenter: str(opts.dc),
    region: str(opts.region),
    servers: servers.length > 0 ? servers : undefined,
    etcd: etcd.length > 0 ? etcd : undefined,
    server: bool(opts.server),
    client: bool(opts.client),
    recover: bool(opts.recover),
  };
}

export const agent = command('agent', {
  summary: 'Run a Drover agent (server, client, or both with -dev)',
  noGlobals: true,
  options: [
    { flags: '--dev', description: 'dev mode: server and client in one process, Nomad dev defaults' },
    { flags: '--data-dir <dir>', description: 'where state and allocation directories live' },
    {
      flags: '--config <file>',
      description: 'agent config file, HCL or JSON (repeatable; later files win)',
      repeatable: true,
    },
    { flags: '--bind <addr>', description: 'address the HTTP API listens on' },
    { flags: '--http-port <port>', description: 'HTTP API port (default 4646; 0 picks a free port)', int: true },
    { flags: '--dns-port <port>', description: 'DNS port (default 8600; 0 picks a free port)', int: true },
    {
      flags: '--gateway-port <port>',
      description: 'gateway port (default 8080 in -dev; 0 picks a free port)',
      int: true,
    },
    { flags: '--log-level <level>', description: 'trace, debug, info, warn or error' },
    { flags: '--node <name>', description: 'node name (default: hostname)' },
    { flags: '--dc <datacenter>', description: 'datacenter of the client node' },
    { flags: '--region <region>', description: 'region of the agent' },
    {
      flags: '--servers <addrs>',
      description: 'servers a client-only agent joins (comma-separated, repeatable)',
      repeatable: true,
    },
    {
      flags: '--etcd <urls>',
      description: 'keep the server state on etcd at these client URLs (comma-separated, repeatable)',
      repeatable: true,
    },
    { flags: '--server', description: 'run the server' },
    { flags: '--client', description: 'run the client' },
    {
      flags: '--recover',
      description: 'start even when the state integrity checks find acknowledged writes missing (logs what is lost)',
    },
  ],
  async run(ctx, _args, opts) {
    const flags = agentFlags(opts);
    if (!flags.dev && !flags.server && !flags.client && flags.configFiles.length === 0) {
      throw new UsageError('Must specify either server, client or dev mode for the agent.');
    }
    const start = ctx.startAgent ?? startInProcess;
    ctx.out.line(`==> Starting Drover agent${flags.dev ? ' in dev mode' : ''}...`);
    const running = await start(flags);
    if (running.address) ctx.out.line(`    API at ${running.address}`);
    if (running.dnsAddress) ctx.out.line(`    DNS at ${running.dnsAddress}`);
    if (running.gatewayAddress) {
      const plane = running.gatewayPlane ? ` (data plane: ${running.gatewayPlane})` : '';
      ctx.out.line(`    Gateway at ${running.gatewayAddress}${plane}`);
    }
    if (running.gatewayTlsAddress) ctx.out.line(`    Gateway HTTPS at ${running.gatewayTlsAddress}`);
    ctx.out.line('==> Drover agent started! Log data will stream in below:');
    if (!ctx.signal.aborted) await once(ctx.signal, 'abort');
    ctx.out.line('==> Caught signal, gracefully shutting down agent...');
    await running.stop();
    ctx.out.line('==> Agent stopped');
    return 0;
  },
});
