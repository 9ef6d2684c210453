/**
 * ACME issuance for the gateway (`gateway { acme { directory email ca_file domains renew_before } }`): keeps a
 * certificate from the CA for every wanted host in the Variable the gateways already serve from
 * (`nomad/gateway/certs/<host>`), so the certificate reaches every gateway through the existing watch.
 *
 *   every check: wanted hosts (`domains`, else the hosts of the routes)
 *      └─ host whose variable is absent, or written by ACME and within renew_before of expiry (or unreadable)
 *           └─ hold the lease (nomad/gateway/acme/lease, check-and-set) ─► order (HTTP-01 on the plain listener)
 *                ─► write nomad/gateway/certs/<host> {cert, key, source=acme}
 *                (the pending key authorization sits at nomad/gateway/acme/challenge-<token> meanwhile, so the
 *                 CA's request is answered by whichever gateway it reaches)
 *           on failure: log the CA's error, mark the host (shown by `drover gateway certs`), retry with backoff
 *
 * Only the gateway holding the lease orders, so two gateways never order the same host at once; the lease is a
 * variable written with check-and-set and taken over once it lapses (a holder that died). A variable written by
 * hand (no `source = acme` item) is the user's: ACME leaves it alone. The account key is kept in a variable too
 * (nomad/gateway/acme/account), so every gateway orders under one account.
 */
import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { DroverError } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';
import { sleepOrAborted } from '../../lib/sleep.js';
import { AcmeClient, newEcKey, type ChallengeResponder } from './acme-client.js';
import { validHost, type CertEntry } from './certs.js';
import { certVariablePath } from './var-certs.js';

export const ACME_LEASE_PATH = 'nomad/gateway/acme/lease';
export const ACME_ACCOUNT_PATH = 'nomad/gateway/acme/account';

export interface AcmeSettings {
  directory: string;
  email?: string;
  /** PEM of CAs trusted for the directory's HTTPS (`ca_file`'s contents). */
  ca?: string;
  /** Hosts to hold certificates for; when absent, the hosts of the gateway's routes. */
  domains?: string[];
  /** Renew this long before expiry. Default 30 days. */
  renewBeforeMs?: number;
}

/** A variable as the issuer reads and writes it (namespace `default`). */
export interface AcmeVariable {
  Items: Record<string, string>;
  ModifyIndex: number;
}

/** Variable access: the server's state in-process, or an agent's HTTP API. */
export interface AcmeVariableStore {
  get(path: string, signal: AbortSignal): Promise<AcmeVariable | undefined>;
  /** `cas` 0 = only if absent; false when the check-and-set lost. */
  put(path: string, items: Record<string, string>, cas: number | undefined, signal: AbortSignal): Promise<boolean>;
  delete(path: string, signal: AbortSignal): Promise<void>;
}

/** Where a pending HTTP-01 key authorization is published, so every gateway answers the CA's request. */
export function acmeChallengePath(token: string): string {
  return `nomad/gateway/acme/challenge-${token}`;
}

export interface AcmeIssuerOptions {
  settings: AcmeSettings;
  store: AcmeVariableStore;
  logger: Logger;
  /** Hosts of the gateway's routes (used when `domains` is not set). */
  routeHosts?: () => string[];
  /** Called with one entry per failing host (shown in `drover gateway certs`), [] when none fails. */
  onFailures?: (entries: CertEntry[]) => void;
  now?: () => number;
  /** How often hosts are re-checked (a local read per host). Default 10 s. */
  checkEveryMs?: number;
  /** First retry delay after a failure; doubles up to maxBackoffMs. Defaults 10 s and 1 h. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How long a lease holds. Default 5 min. */
  leaseMs?: number;
}

const DAY = 86_400_000;

interface Failure {
  attempts: number;
  nextAt: number;
  error: string;
}

export class AcmeIssuer {
  private readonly challenges = new Map<string, string>();
  private readonly failures = new Map<string, Failure>();
  private readonly holder = randomUUID();
  private client?: AcmeClient;

  /** Hosts of the gateway's routes (used when `domains` is not set); settable once the gateway runs. */
  routeHosts?: () => string[];

  constructor(private readonly o: AcmeIssuerOptions) {
    this.routeHosts = o.routeHosts;
  }

  /**
   * The key authorization for an HTTP-01 token, for the challenge path: this issuer's own, else one another
   * gateway published in the state (the CA's request may reach any gateway).
   */
  challenge(token: string): string | undefined | Promise<string | undefined> {
    const own = this.challenges.get(token);
    if (own !== undefined) return own;
    return this.o.store
      .get(acmeChallengePath(token), AbortSignal.timeout(5_000))
      .then((v) => v?.Items['keyAuthorization']);
  }

  /** Checks and orders until `signal` aborts; never throws for a CA or state error (they are logged). */
  async run(signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted) {
        await this.checkOnce(signal).catch((e: unknown) => {
          if (signal.aborted) return;
          // A standby server of an HA cluster answers NotLeader: its leader's gateway does the ordering.
          const standby = e instanceof DroverError && e.code === 'NotLeader';
          this.o.logger[standby ? 'debug' : 'warn']('ACME check failed', { error: String(e) });
        });
        await this.pause(signal);
      }
    } finally {
      await this.client?.close().catch(() => undefined);
    }
  }

  /** Waits for the next check: `checkEveryMs`, or less when the wanted hosts change (a route with a new host). */
  private async pause(signal: AbortSignal): Promise<void> {
    const before = this.wantedHosts().join(',');
    const until = this.now() + (this.o.checkEveryMs ?? 10_000);
    while (!signal.aborted && this.now() < until) {
      await sleepOrAborted(Math.min(1_000, until - this.now()), signal);
      if (this.wantedHosts().join(',') !== before) return;
    }
  }

  /** The hosts wanted now: `domains`, else the routes' DNS names (not single labels, wildcards or addresses). */
  wantedHosts(): string[] {
    const hosts = this.o.settings.domains ?? this.routeHosts?.() ?? [];
    return [...new Set(hosts.map((h) => h.toLowerCase()))]
      .sort()
      .filter((h) => validHost(h) && h.includes('.') && !h.startsWith('*.') && !/^[\d.]+$/.test(h));
  }

  /** One pass over the wanted hosts. */
  async checkOnce(signal: AbortSignal): Promise<void> {
    const now = this.now();
    const due: string[] = [];
    for (const host of this.wantedHosts()) {
      const failure = this.failures.get(host);
      if (failure && failure.nextAt > now) continue;
      if (await this.needsCert(host, now, signal)) due.push(host);
      else this.failures.delete(host);
    }
    this.publishFailures();
    if (due.length === 0) return;
    if (!(await this.holdLease(signal))) {
      this.o.logger.debug('another gateway holds the ACME lease', { hosts: due });
      return;
    }
    for (const host of due) {
      if (signal.aborted) return;
      await this.order(host, signal);
    }
    this.publishFailures();
  }

  private async needsCert(host: string, now: number, signal: AbortSignal): Promise<boolean> {
    const v = await this.o.store.get(certVariablePath(host), signal);
    if (!v) return true;
    if (v.Items['source'] !== 'acme') return false; // the user's own certificate
    try {
      const notAfter = Date.parse(new X509Certificate(v.Items['cert'] ?? '').validTo);
      return notAfter - (this.o.settings.renewBeforeMs ?? 30 * DAY) <= now;
    } catch {
      return true;
    }
  }

  private async order(host: string, signal: AbortSignal): Promise<void> {
    const started = this.now();
    try {
      const client = await this.account(signal);
      // Published in memory for this gateway and in the state for the others; withdrawn once validated.
      const responder: ChallengeResponder = {
        set: async (token, keyAuthorization) => {
          this.challenges.set(token, keyAuthorization);
          await this.o.store.put(acmeChallengePath(token), { keyAuthorization }, undefined, signal);
        },
        remove: async (token) => {
          this.challenges.delete(token);
          await this.o.store.delete(acmeChallengePath(token), signal).catch((e: unknown) => {
            this.o.logger.warn('removing an ACME challenge variable failed', { token, error: String(e) });
          });
        },
      };
      const issued = await client.issue(host, responder, signal);
      const path = certVariablePath(host);
      const current = await this.o.store.get(path, signal);
      if (current && current.Items['source'] !== 'acme') return; // the user wrote one meanwhile: theirs wins
      const items = { cert: issued.cert, key: issued.key, source: 'acme', directory: this.o.settings.directory };
      if (!(await this.o.store.put(path, items, current?.ModifyIndex ?? 0, signal)))
        throw new Error(`${path} changed while the certificate was ordered; ordering again`);
      this.failures.delete(host);
      this.o.logger.info('ACME certificate issued', { host, variable: path, tookMs: this.now() - started });
    } catch (e) {
      if (signal.aborted) return;
      const prev = this.failures.get(host);
      const attempts = (prev?.attempts ?? 0) + 1;
      const base = this.o.backoffMs ?? 10_000;
      const retryInMs = Math.min(base * 2 ** (attempts - 1), this.o.maxBackoffMs ?? 3_600_000);
      const error = e instanceof Error ? e.message : String(e);
      this.failures.set(host, { attempts, nextAt: this.now() + retryInMs, error });
      this.o.logger.error('ACME certificate order failed; retrying', {
        host,
        directory: this.o.settings.directory,
        error,
        attempts,
        retryInMs,
      });
      // A client whose directory or account failed is rebuilt next time (the CA may have been replaced).
      await this.client?.close().catch(() => undefined);
      this.client = undefined;
    }
  }

  /** The account client: the shared account key from its variable, or a new one written there. */
  private async account(signal: AbortSignal): Promise<AcmeClient> {
    if (this.client) return this.client;
    const { directory, ca, email } = this.o.settings;
    const stored = await this.o.store.get(ACME_ACCOUNT_PATH, signal);
    const same = stored && stored.Items['directory'] === directory && stored.Items['key'];
    const accountKey = same ? createPrivateKey(stored.Items['key'] ?? '') : newEcKey();
    const client = new AcmeClient({
      directory,
      ca,
      accountKey,
      accountUrl: same ? stored.Items['url'] : undefined,
    });
    try {
      const url = await client.account(email, signal);
      if (!same) {
        const key = accountKey.export({ type: 'pkcs8', format: 'pem' }) as string;
        await this.o.store.put(ACME_ACCOUNT_PATH, { key, url, directory }, stored?.ModifyIndex ?? 0, signal);
      }
    } catch (e) {
      await client.close().catch(() => undefined);
      throw e;
    }
    this.client = client;
    return client;
  }

  /** Takes or extends the lease; false when another live gateway holds it. */
  private async holdLease(signal: AbortSignal): Promise<boolean> {
    const now = this.now();
    const v = await this.o.store.get(ACME_LEASE_PATH, signal);
    const theirs = v && v.Items['holder'] !== this.holder && Number(v.Items['until']) > now;
    if (theirs) return false;
    const items = { holder: this.holder, until: String(now + (this.o.leaseMs ?? 5 * 60_000)) };
    return this.o.store.put(ACME_LEASE_PATH, items, v?.ModifyIndex ?? 0, signal);
  }

  private publishFailures(): void {
    const wanted = new Set(this.wantedHosts());
    const entries: CertEntry[] = [];
    for (const [host, f] of this.failures) {
      if (!wanted.has(host)) {
        this.failures.delete(host);
        continue;
      }
      const inS = Math.max(0, Math.round((f.nextAt - this.now()) / 1000));
      entries.push({
        host,
        cert: '',
        key: '',
        source: 'acme',
        origin: this.o.settings.directory,
        problem: `ACME order failed (attempt ${f.attempts}, next in ${inS}s): ${f.error}`,
      });
    }
    this.o.onFailures?.(entries);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}
