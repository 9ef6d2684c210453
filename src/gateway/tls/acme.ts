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
 *                 CA's request is answered by whichever gateway it reaches; one a gateway that died mid-order
 *                 left behind is deleted by the next lease holder once it has seen it unchanged for staleChallengeMs)
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
  /**
   * One page of the paths that start with `prefix`, in path order: the first page without `nextToken`, then the
   * page a previous answer's `nextToken` names; an answer without one is the last. Without `list`, stale
   * challenge variables are not swept.
   */
  list?(prefix: string, signal: AbortSignal, nextToken?: string): Promise<AcmeVariablePage>;
}

/** A page of variable paths, and the token of the next page when there is one. */
export interface AcmeVariablePage {
  paths: string[];
  nextToken?: string;
}

/** The most pages of challenge variables one sweep reads: a list that never ends is not followed forever. */
const SWEEP_MAX_PAGES = 1000;

/** The token alphabet of RFC 8555 §8.3 (base64url); anything else could step out of the variable path. */
export const ACME_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

const CHALLENGE_PREFIX = 'nomad/gateway/acme/challenge-';

/** Where a pending HTTP-01 key authorization is published, so every gateway answers the CA's request. */
export function acmeChallengePath(token: string): string {
  if (!ACME_TOKEN.test(token))
    throw new DroverError('BadRequest', `ACME challenge token ${JSON.stringify(token.slice(0, 64))} is not base64url`);
  return `${CHALLENGE_PREFIX}${token}`;
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
  /** At most this many orders for hosts without a certificate per hour (renewals are not counted). Default 10. */
  newHostsPerHour?: number;
  /**
   * A challenge variable older than this, not this gateway's own, was left by a gateway that stopped mid-order:
   * the lease holder deletes it before its next order. Default 10 min (twice the default lease).
   */
  staleChallengeMs?: number;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** A certificate is never renewed sooner than this after it was written, whatever its lifetime. */
const MIN_RENEW_AGE_MS = 10 * 60_000;

interface Failure {
  attempts: number;
  nextAt: number;
  error: string;
}

export class AcmeIssuer {
  private readonly challenges = new Map<string, string>();
  /** Challenge variables of other gateways, with what they held when this gateway first saw them so (its clock). */
  private readonly challengeSeen = new Map<string, { stamp: string; since: number }>();
  private readonly failures = new Map<string, Failure>();
  private readonly holder = randomUUID();
  /** When orders for hosts without a certificate were started, for `newHostsPerHour`. */
  private newOrders: number[] = [];
  private lastWaiting = '';
  private client?: AcmeClient;

  /** Hosts of the gateway's routes (used when `domains` is not set); settable once the gateway runs. */
  routeHosts?: () => string[];

  constructor(private readonly o: AcmeIssuerOptions) {
    this.routeHosts = o.routeHosts;
  }

  /**
   * The key authorization for an HTTP-01 token, for the challenge path: this issuer's own, else one another
   * gateway published in the state (the CA's request may reach any gateway). The state is only asked while some
   * gateway holds the ACME lease (none can be ordering otherwise), and the lease is read at most once a second,
   * so requests for made-up tokens cost no state read per request.
   */
  challenge(token: string): string | undefined | Promise<string | undefined> {
    const own = this.challenges.get(token);
    if (own !== undefined) return own;
    if (!ACME_TOKEN.test(token)) return undefined;
    return this.someoneOrdering().then(async (ordering) => {
      if (!ordering) return undefined;
      const v = await this.o.store.get(acmeChallengePath(token), AbortSignal.timeout(5_000));
      return v?.Items['keyAuthorization'];
    });
  }

  private leaseSeen?: { at: number; live: Promise<boolean> };

  /** Whether a live ACME lease exists (some gateway may be ordering); cached for a second. */
  private someoneOrdering(): Promise<boolean> {
    const now = this.now();
    if (this.leaseSeen && now - this.leaseSeen.at < 1_000 && now >= this.leaseSeen.at) return this.leaseSeen.live;
    const live = this.o.store
      .get(ACME_LEASE_PATH, AbortSignal.timeout(5_000))
      .then((v) => v !== undefined && Number(v.Items['until']) > this.now())
      .catch(() => true); // unknown: ask for the token rather than fail the CA
    this.leaseSeen = { at: now, live };
    return live;
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
    const renewals: string[] = [];
    const fresh: string[] = [];
    for (const host of this.wantedHosts()) {
      const failure = this.failures.get(host);
      if (failure && failure.nextAt > now) continue;
      const need = await this.needsCert(host, now, signal);
      if (need === 'new') fresh.push(host);
      else if (need === 'renew') renewals.push(host);
      else this.failures.delete(host);
    }
    this.publishFailures();
    // Renewals first; hosts without a certificate (any job's route tag can name one) are capped per hour, so
    // a flood of hosts that cannot validate does not spend the CA's rate limits that real renewals need.
    this.newOrders = this.newOrders.filter((t) => t > now - HOUR);
    const room = Math.max(0, (this.o.newHostsPerHour ?? 10) - this.newOrders.length);
    // Hosts not tried yet go first, so failing hosts cannot starve them.
    fresh.sort((x, y) => (this.failures.get(x)?.attempts ?? 0) - (this.failures.get(y)?.attempts ?? 0));
    const waiting = fresh.slice(room).join(',');
    if (waiting && waiting !== this.lastWaiting)
      this.o.logger.warn('ACME: more new hosts than the hourly limit of orders; the rest wait', {
        limit: this.o.newHostsPerHour ?? 10,
        waiting: fresh.slice(room),
      });
    this.lastWaiting = waiting;
    const due = [...renewals, ...fresh.slice(0, room)];
    if (due.length === 0) return;
    let swept = false;
    for (const host of due) {
      if (signal.aborted) return;
      // Taken (or extended) before every order: one pass over many hosts can outlast a lease.
      if (!(await this.holdLease(signal))) {
        this.o.logger.debug('another gateway holds the ACME lease', { hosts: due });
        break;
      }
      if (!swept) {
        swept = true;
        await this.sweepChallenges(signal);
      }
      if (!renewals.includes(host)) this.newOrders.push(this.now());
      await this.order(host, signal);
    }
    this.publishFailures();
  }

  /**
   * 'new' for a host without a certificate, 'renew' for ACME's own that is due, undefined otherwise. Due means
   * within min(renew_before, a third of its lifetime) of expiry, and never sooner than MIN_RENEW_AGE_MS after it
   * was written: a CA issuing certificates shorter than renew_before must not get an order every check.
   */
  private async needsCert(host: string, now: number, signal: AbortSignal): Promise<'new' | 'renew' | undefined> {
    const v = await this.o.store.get(certVariablePath(host), signal);
    if (!v) return 'new';
    if (v.Items['source'] !== 'acme') return undefined; // the user's own certificate
    let renewAt: number;
    try {
      const c = new X509Certificate(v.Items['cert'] ?? '');
      const [from, to] = [Date.parse(c.validFrom), Date.parse(c.validTo)];
      const before = Math.min(this.o.settings.renewBeforeMs ?? 30 * DAY, (to - from) / 3);
      const written = Math.max(from, Number(v.Items['issued']) || 0);
      renewAt = Math.max(to - before, written + MIN_RENEW_AGE_MS);
    } catch {
      return 'renew';
    }
    return renewAt <= now ? 'renew' : undefined;
  }

  private async order(host: string, signal: AbortSignal): Promise<void> {
    const started = this.now();
    try {
      const client = await this.account(signal);
      // Published in memory for this gateway and in the state for the others; withdrawn once validated.
      const responder: ChallengeResponder = {
        set: async (token, keyAuthorization) => {
          this.challenges.set(token, keyAuthorization);
          const items = { keyAuthorization, written: String(this.now()) };
          await this.o.store.put(acmeChallengePath(token), items, undefined, signal);
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
      const items = {
        cert: issued.cert,
        key: issued.key,
        source: 'acme',
        directory: this.o.settings.directory,
        issued: String(this.now()),
      };
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
  private async account(signal: AbortSignal, attempt = 0): Promise<AcmeClient> {
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
    let written: boolean;
    try {
      const url = await client.account(email, signal);
      const key = accountKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      // Written when new, or when the stored record lacks the URL (found again by newAccount).
      written =
        (same && stored.Items['url'] === url) ||
        (await this.o.store.put(ACME_ACCOUNT_PATH, { key, url, directory }, stored?.ModifyIndex ?? 0, signal));
    } catch (e) {
      await client.close().catch(() => undefined);
      throw e;
    }
    if (written) {
      this.client = client;
      return client;
    }
    // Another gateway wrote the account meanwhile: read it again and order under the stored key, so every
    // gateway shares one account.
    await client.close().catch(() => undefined);
    if (attempt >= 3) throw new Error(`${ACME_ACCOUNT_PATH} keeps changing; trying again later`);
    return this.account(signal, attempt + 1);
  }

  /**
   * Deletes the challenge variables a gateway that stopped mid-order left behind: not this gateway's own, and
   * seen unchanged by this gateway for `staleChallengeMs` (twice the lease). Age is this gateway's own
   * observation, never another gateway's clock or a missing date: a challenge written by a gateway of another
   * version, or one whose clock is skewed, is only removed once it has sat unchanged that long. Run by the lease
   * holder, so no other gateway is ordering; a failure is logged and the order goes on.
   */
  private async sweepChallenges(signal: AbortSignal): Promise<void> {
    if (!this.o.store.list) return;
    const now = this.now();
    const staleMs = this.o.staleChallengeMs ?? 10 * 60_000;
    try {
      const present = new Set<string>();
      // Every page, so a challenge on a later one is judged too. What was seen is forgotten only once all pages
      // were read (a failed page keeps it): forgetting earlier would restart the clocks of the later pages.
      const tokens = new Set<string>();
      let next: string | undefined;
      do {
        const page = await this.o.store.list(CHALLENGE_PREFIX, signal, next);
        for (const path of page.paths) await this.judgeChallenge(path, now, staleMs, present, signal);
        next = page.nextToken || undefined;
        if (next !== undefined && (tokens.has(next) || tokens.size >= SWEEP_MAX_PAGES))
          throw new Error(`the list of ${CHALLENGE_PREFIX}* does not end (next token ${JSON.stringify(next)})`);
        if (next !== undefined) tokens.add(next);
      } while (next !== undefined);
      for (const path of this.challengeSeen.keys()) if (!present.has(path)) this.challengeSeen.delete(path);
    } catch (e) {
      if (!signal.aborted) this.o.logger.warn('sweeping stale ACME challenge variables failed', { error: String(e) });
    }
  }

  /** One listed challenge variable: noted as present, its clock (re)started, or deleted once stale. */
  private async judgeChallenge(
    path: string,
    now: number,
    staleMs: number,
    present: Set<string>,
    signal: AbortSignal,
  ): Promise<void> {
    const token = path.slice(CHALLENGE_PREFIX.length);
    if (!path.startsWith(CHALLENGE_PREFIX) || !ACME_TOKEN.test(token) || this.challenges.has(token)) return;
    const v = await this.o.store.get(path, signal);
    if (!v) return;
    present.add(path);
    const stamp = JSON.stringify(v.Items);
    const seen = this.challengeSeen.get(path);
    if (seen?.stamp !== stamp) {
      this.challengeSeen.set(path, { stamp, since: now });
      return;
    }
    if (now - seen.since < staleMs) return;
    await this.o.store.delete(path, signal);
    this.challengeSeen.delete(path);
    this.o.logger.info('removed a stale ACME challenge variable', { variable: path });
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
      entries.push({
        host,
        cert: '',
        key: '',
        source: 'acme',
        origin: this.o.settings.directory,
        // An absolute time: the text stays the same between attempts, so the certificate store does not
        // take every publish for a new problem (and log it again).
        problem: `ACME order failed (attempt ${f.attempts}, next at ${new Date(f.nextAt).toISOString()}): ${f.error}`,
      });
    }
    this.o.onFailures?.(entries);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}
