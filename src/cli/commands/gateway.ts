/**
 * `drover gateway [-address AGENT] [-listen 127.0.0.1:8080] [-admin ADDR] [-lb round_robin|least_conn]
 * [-data-plane node|haproxy] [-tls-listen ADDR -tls-cert-file F -tls-key-file F]`: the gateway as its own process, following an agent's catalog over HTTP until
 * SIGINT/SIGTERM, then draining in-flight requests. Like `drover agent`, it serves rather than calls the API, so
 * the gateway module is loaded only here.
 */
import { command, str, UsageError } from '../command.js';

const LB = ['round_robin', 'least_conn'] as const;
const DATA_PLANES = ['node', 'haproxy'] as const;

function oneOf<T extends string>(flag: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v))
    throw new UsageError(`Invalid -${flag} "${v}": expected ${allowed.join(' or ')}`);
  return v as T;
}

/** -tls-listen with its certificate and key, all three or none. */
function tlsSettings(opts: Record<string, unknown>): { listen: string; certFile: string; keyFile: string } | undefined {
  const listen = str(opts.tlsListen);
  const certFile = str(opts.tlsCertFile);
  const keyFile = str(opts.tlsKeyFile);
  if (listen === undefined && certFile === undefined && keyFile === undefined) return undefined;
  if (listen === undefined) throw new UsageError('-tls-cert-file and -tls-key-file need -tls-listen');
  if (certFile === undefined || keyFile === undefined)
    throw new UsageError('-tls-listen needs -tls-cert-file and -tls-key-file (the default certificate)');
  return { listen, certFile, keyFile };
}

export const gateway = command('gateway', {
  summary: "Run the gateway: an L7 proxy routing by the catalog's urlprefix- tags",
  // Its own -address/-namespace/-token (not the global set): `-json` would otherwise be taken here from
  // `drover gateway routes -json`, which commander parses on this parent command first.
  noGlobals: true,
  options: [
    { flags: '--address <addr>', description: 'the agent whose catalog to follow (env DROVER_ADDR, NOMAD_ADDR)' },
    { flags: '--namespace <namespace>', description: 'namespace to follow; * for all (default: default)' },
    { flags: '--token <token>', description: 'ACL token (env DROVER_TOKEN, NOMAD_TOKEN)' },
    {
      flags: '--listen <addr>',
      description: 'host:port the proxy listens on (default 127.0.0.1:8080; port 0 picks a free one)',
    },
    {
      flags: '--admin <addr>',
      description: 'host:port for /routes and /metrics (default: under /_drover/gateway/ on -listen)',
    },
    {
      flags: '--lb <policy>',
      description: 'round_robin (default) or least_conn, for routes whose tag does not choose',
    },
    {
      flags: '--data-plane <plane>',
      description: 'node (default): forward in this process; haproxy: drive a local HAProxy',
    },
    {
      flags: '--tls-listen <addr>',
      description: 'host:port of an HTTPS listener (HTTP/2 and HTTP/1.1); needs -tls-cert-file and -tls-key-file',
    },
    { flags: '--tls-cert-file <file>', description: 'PEM certificate served when no SNI certificate matches' },
    { flags: '--tls-key-file <file>', description: 'PEM private key of -tls-cert-file' },
  ],
  help: 'The agent to follow is -address (or DROVER_ADDR). Routes come from service tags such as\n"urlprefix-/api strip=/api"; `drover gateway routes` prints the live table.\nWith -tls-listen, certificates for other names are read from the agent\'s Variables under\nnomad/gateway/certs/<host>; `drover gateway certs` shows which are served and why not.',
  async run(ctx, _args, opts) {
    const lb = oneOf('lb', str(opts.lb), LB);
    const dataPlane = oneOf('data-plane', str(opts.dataPlane), DATA_PLANES);
    const gw = await import('../../gateway/index.js');
    const { pinoLogger } = await import('../../logging/index.js');
    // Bad addresses are usage errors, found before anything listens.
    const listen = gw.parseListenAddress(str(opts.listen) ?? '127.0.0.1:8080');
    const adminText = str(opts.admin);
    const admin = adminText === undefined ? undefined : gw.parseListenAddress(adminText);
    const routesPath = admin ? '/routes' : `${gw.ADMIN_PREFIX}/routes`;
    const tls = tlsSettings(opts);
    const tlsListen = tls === undefined ? undefined : gw.parseListenAddress(tls.listen);
    await gw.runGatewayProcess({
      address: ctx.globals.address,
      namespace: ctx.globals.namespace,
      token: ctx.globals.token,
      listen,
      admin,
      lb,
      dataPlane,
      tls: tls && tlsListen ? { ...tls, listen: tlsListen } : undefined,
      logger: pinoLogger('info'),
      signal: ctx.signal,
      onStarted: (g) => {
        ctx.out.line(`==> Drover gateway following ${ctx.globals.address}`);
        ctx.out.line(`    Gateway at http://${listen.host}:${g.port}`);
        if (g.tlsPort !== undefined) ctx.out.line(`    Gateway HTTPS at https://${tlsListen!.host}:${g.tlsPort}`);
        const adminAt =
          g.adminPort === undefined ? `http://${listen.host}:${g.port}` : `http://${admin!.host}:${g.adminPort}`;
        ctx.out.line(`    Routes at ${adminAt}${routesPath}`);
      },
    });
    ctx.out.line('==> Gateway stopped');
    return 0;
  },
});
