/**
 * A TLS listener's certificates from settings: the default certificate from `cert_file` / `key_file`, SNI
 * certificates followed from the Variables under nomad/gateway/certs/ (when a query is given), and a timer that
 * re-checks expiry so a certificate that runs out while served is reported. The standalone `drover gateway`
 * uses it (over the followed agent's HTTP API), and so does the agent's gateway (src/agent/gateway-tls.ts),
 * which adds ACME on top.
 *
 *   files ──► CertStore('file') ◄── followCertVariables(query) ◄── Variables
 *                 └── every problem ──► logger.error('TLS certificate not served', host, origin, problem)
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DroverError } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';
import type { GatewayTlsOptions, ListenAddress } from '../types.js';
import { CertStore } from './certs.js';
import { followCertVariables, type CertVariablesQuery } from './var-certs.js';

/** How often served certificates are re-checked for expiry. */
const RECHECK_MS = 60_000;

export interface TlsFileSettings {
  listen: ListenAddress;
  certFile: string;
  keyFile: string;
  /**
   * How the settings are named in errors: `{ cert: '-tls-cert-file', key: '-tls-key-file' }`; `certificate` names
   * the default certificate's problems (`gateway.tls` in the agent), `cert` when left out.
   */
  names: { cert: string; key: string; certificate?: string };
}

export interface StartedTls {
  options: GatewayTlsOptions;
  /** Stops following the variables and the expiry timer. */
  stop(): Promise<void>;
}

/** A file a setting names, as text; an unreadable one is an error naming the setting (`name: cannot read …`). */
export async function readSettingFile(name: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new DroverError('BadRequest', `${name}: cannot read ${file}: ${(e as Error).message}`);
  }
}

/**
 * A CA bundle a setting names (`gateway.acme.ca_file`), read and checked: one or more complete PEM certificates
 * that each parse. Node's TLS takes any text as `ca` without a word and only fails the handshake later ("unable
 * to get local issuer certificate"), so a wrong or truncated file is refused here, naming the setting and file.
 */
export async function readCaBundle(name: string, file: string): Promise<string> {
  const pem = await readSettingFile(name, file);
  const begins = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (begins === 0)
    throw new DroverError('BadRequest', `${name}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (blocks.length !== begins)
    throw new DroverError('BadRequest', `${name}: ${file} is not a complete PEM certificate bundle (truncated?)`);
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (e) {
      throw new DroverError(
        'BadRequest',
        `${name}: ${file}: certificate ${i + 1} is not a valid certificate: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  return pem;
}

/**
 * Loads the default certificate (a bad one is an error naming the setting: the listener needs it) and, with
 * `query`, starts following the certificate variables.
 */
export async function startTlsFromFiles(
  settings: TlsFileSettings,
  query: CertVariablesQuery | undefined,
  logger: Logger,
): Promise<StartedTls> {
  const cert = await readSettingFile(settings.names.cert, settings.certFile);
  const key = await readSettingFile(settings.names.key, settings.keyFile);
  const certs = new CertStore(Date.now, (p) =>
    logger.error('TLS certificate not served', { host: p.Host || '(default)', origin: p.Origin, problem: p.Problem }),
  );
  const [problem] = certs.set('file', [{ host: '', cert, key, source: 'file', origin: settings.certFile }]);
  if (problem)
    throw new DroverError(
      'BadRequest',
      `${settings.names.certificate ?? settings.names.cert}: the default certificate ${settings.certFile}: ${problem.Problem}`,
    );
  const stop = new AbortController();
  const following = query
    ? followCertVariables(query, certs, logger, stop.signal).catch((err: unknown) => {
        if (!stop.signal.aborted) logger.error('following the certificate variables stopped', { error: String(err) });
      })
    : Promise.resolve();
  const timer = setInterval(() => certs.recompute(), RECHECK_MS);
  timer.unref();
  return {
    options: { listen: settings.listen, certs },
    async stop() {
      clearInterval(timer);
      stop.abort();
      await following;
    },
  };
}
