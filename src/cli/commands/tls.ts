/**
 * `drover tls ca create` and `drover tls cert create -server|-client|-cli`: Nomad's commands for a private CA
 * and the agents' certificates. The X.509 work is OpenSSL's (the `openssl` binary, Debian's `openssl` package);
 * nothing here builds ASN.1. Names follow Nomad's convention, so `verify_server_hostname` can tell roles apart:
 *
 *   server  CN server.<region>.nomad, SANs server.<region>.nomad, server.<region>.drover, localhost, 127.0.0.1
 *   client  CN client.<region>.nomad, SANs client.<region>.nomad, client.<region>.drover, localhost, 127.0.0.1
 *   cli     CN cli.<region>.nomad,    SANs cli.<region>.nomad, localhost
 *
 * Files, in the current directory (or -dir): drover-agent-ca.pem / drover-agent-ca-key.pem, and
 * <region>-<role>-drover.pem / <region>-<role>-drover-key.pem. Keys are ECDSA P-256, written 0600.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { command, UsageError } from '../command.js';

const CA = 'drover-agent-ca.pem';
const CA_KEY = 'drover-agent-ca-key.pem';

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT')
      throw new UsageError('Error: the openssl binary is needed (Debian: apt-get install openssl)');
    throw new UsageError(`Error: openssl ${args[0]} failed: ${err.stderr?.toString().trim() ?? String(e)}`);
  }
}

/** openssl arguments for a new unencrypted P-256 key written to `keyFile` (ca create and cert create). */
function newP256Key(keyFile: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile];
}

function refuseOverwrite(...files: string[]): void {
  for (const f of files) if (existsSync(f)) throw new UsageError(`Error: ${f} already exists`);
}

const list = (v: unknown): string[] =>
  (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);

export const tlsCaCreate = command('tls ca create', {
  summary: 'Create a certificate authority for agent TLS',
  noGlobals: true,
  options: [
    { flags: '--days <n>', description: 'validity in days', int: true, default: 1825 },
    { flags: '--common-name <cn>', description: 'the CA certificate common name', default: 'Drover Agent CA' },
    { flags: '--dir <dir>', description: 'where to write the files', default: '.' },
  ],
  async run(ctx, _args, opts) {
    const dir = resolve(String(opts.dir));
    mkdirSync(dir, { recursive: true });
    const [cert, key] = [join(dir, CA), join(dir, CA_KEY)];
    refuseOverwrite(cert, key);
    openssl([
      'req',
      '-x509',
      ...newP256Key(key),
      '-out',
      cert,
      '-days',
      String(opts.days),
      '-subj',
      `/CN=${String(opts.commonName)}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    chmodSync(key, 0o600);
    ctx.out.line(`==> CA certificate saved to: ${cert}`);
    ctx.out.line(`==> CA certificate key saved to: ${key}`);
    return 0;
  },
});

export const tlsCertCreate = command('tls cert create', {
  summary: 'Create a server, client or CLI certificate signed by the CA',
  noGlobals: true,
  options: [
    { flags: '--server', description: 'a server certificate' },
    { flags: '--client', description: 'a client certificate' },
    { flags: '--cli', description: 'a certificate for the CLI' },
    { flags: '--region <region>', description: 'the region the agent serves', default: 'global' },
    { flags: '--days <n>', description: 'validity in days', int: true, default: 365 },
    { flags: '--ca <file>', description: 'the CA certificate', default: CA },
    { flags: '--key <file>', description: 'the CA key', default: CA_KEY },
    { flags: '--additional-dnsname <name>', description: 'another DNS name in the certificate', repeatable: true },
    { flags: '--additional-ipaddress <ip>', description: 'another IP address in the certificate', repeatable: true },
    { flags: '--dir <dir>', description: 'where to write the files', default: '.' },
  ],
  async run(ctx, _args, opts) {
    const roles = (['server', 'client', 'cli'] as const).filter((r) => opts[r] === true);
    if (roles.length !== 1) throw new UsageError('Error: give exactly one of -server, -client or -cli');
    const role = roles[0]!;
    const region = String(opts.region);
    if (!/^[a-zA-Z0-9-]{1,64}$/.test(region)) throw new UsageError(`Error: invalid region ${JSON.stringify(region)}`);
    const ips = list(opts.additionalIpaddress);
    for (const ip of ips)
      if (isIP(ip) === 0)
        throw new UsageError(`Error: -additional-ipaddress ${JSON.stringify(ip)} is not an IP address`);
    const names = list(opts.additionalDnsname);
    for (const n of names)
      if (!/^[a-zA-Z0-9*.-]{1,253}$/.test(n))
        throw new UsageError(`Error: -additional-dnsname ${JSON.stringify(n)} is not a DNS name`);
    const cn = `${role}.${region}.nomad`;
    const dns = [cn, ...(role === 'cli' ? [] : [`${role}.${region}.drover`]), 'localhost', ...names];
    const ipSans = [...(role === 'cli' ? [] : ['127.0.0.1']), ...ips];
    const dir = resolve(String(opts.dir));
    mkdirSync(dir, { recursive: true });
    const base = join(dir, `${region}-${role}-drover`);
    const [cert, key] = [`${base}.pem`, `${base}-key.pem`];
    refuseOverwrite(cert, key);
    const ca = resolve(String(opts.ca));
    const caKey = resolve(String(opts.key));
    for (const f of [ca, caKey])
      if (!existsSync(f)) throw new UsageError(`Error: ${f} not found (create a CA with "drover tls ca create")`);
    const work = mkdtempSync(join(tmpdir(), 'drover-tls-'));
    try {
      const ext = join(work, 'ext.cnf');
      const san = [...dns.map((d) => `DNS:${d}`), ...ipSans.map((ip) => `IP:${ip}`)].join(',');
      const usage = role === 'server' ? 'serverAuth,clientAuth' : 'clientAuth,serverAuth';
      writeFileSync(
        ext,
        `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\nsubjectAltName=${san}\n`,
      );
      const csr = join(work, 'req.csr');
      openssl(['req', '-new', ...newP256Key(key), '-out', csr, '-subj', `/CN=${cn}`]);
      chmodSync(key, 0o600);
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-CAserial',
        join(work, 'ca.srl'),
        '-out',
        cert,
        '-days',
        String(opts.days),
        '-extfile',
        ext,
      ]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    ctx.out.line(`==> Using CA file ${ca} and CA key ${caKey}`);
    ctx.out.line(`==> ${role} certificate saved to: ${cert}`);
    ctx.out.line(`==> ${role} certificate key saved to: ${key}`);
    return 0;
  },
});
