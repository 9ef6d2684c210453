/**
 * A small ACME client (RFC 8555) for one thing: a certificate for one DNS name through HTTP-01. Requests are JWS
 * (ES256) signed with the account key; the CA's nonces are kept from each answer; a CA error (a problem document)
 * becomes a DroverError carrying the CA's own type and detail, so the log says what the CA refused.
 *
 *   directory ─► newNonce ─► newAccount (kid) ─► newOrder ─► authorization ─► http-01 challenge: publish the key
 *   authorization, POST {} ─► poll authorization: valid ─► poll order: ready ─► finalize(CSR) ─► poll: valid
 *   ─► certificate (PEM chain)
 */
import { createHash, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { Agent, fetch as undiciFetch } from 'undici';
import { DroverError } from '../../errors/index.js';
import { sleep } from '../../lib/sleep.js';
import { createCsr } from '../../lib/openssl.js';

interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

interface Order {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: Problem;
}

interface Authorization {
  status: string;
  challenges: { type: string; url: string; token: string; status: string; error?: Problem }[];
}

interface Problem {
  type?: string;
  detail?: string;
}

export interface AcmeClientOptions {
  /** The directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`. */
  directory: string;
  /** The account key (EC P-256). */
  accountKey: KeyObject;
  /** The account URL when the account is known (skips newAccount). */
  accountUrl?: string;
  /** PEM of CAs to trust for the directory's HTTPS (a test CA); the system's when absent. */
  ca?: string;
  /** How long to poll an authorization or order before giving up. Default 90 s. */
  pollTimeoutMs?: number;
}

/** Publishes and withdraws HTTP-01 key authorizations (the gateway's challenge path answers them). */
export interface ChallengeResponder {
  set(token: string, keyAuthorization: string): Promise<void> | void;
  remove(token: string): Promise<void> | void;
}

/** An issued certificate: the PEM chain (leaf first) and its private key. */
export interface IssuedCert {
  cert: string;
  key: string;
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** A new EC P-256 key, as ACME accounts and certificates use here. */
export function newEcKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

export class AcmeClient {
  private readonly dispatcher: Agent;
  private dir?: Directory;
  private nonce?: string;
  private readonly jwk: JsonWebKey;
  accountUrl?: string;

  constructor(private readonly opts: AcmeClientOptions) {
    this.dispatcher = new Agent({ connect: opts.ca ? { ca: opts.ca } : {} });
    const { crv, kty, x, y } = opts.accountKey.export({ format: 'jwk' });
    this.jwk = { crv, kty, x, y };
    this.accountUrl = opts.accountUrl;
  }

  /** RFC 7638 thumbprint of the account key: the second half of every key authorization. */
  thumbprint(): string {
    const { crv, kty, x, y } = this.jwk;
    return b64u(createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest());
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }

  /** Registers the account (or finds it again: newAccount answers the existing one for a known key). */
  async account(email: string | undefined, signal: AbortSignal): Promise<string> {
    if (this.accountUrl) return this.accountUrl;
    const dir = await this.directory(signal);
    const payload = { termsOfServiceAgreed: true, ...(email ? { contact: [`mailto:${email}`] } : {}) };
    const res = await this.post(dir.newAccount, payload, signal, true);
    await res.body?.cancel(); // the account object is not needed; an unread body holds the connection
    const url = res.headers.get('location');
    if (!url) throw this.fail('newAccount', 'the CA answered no account URL (Location header)');
    this.accountUrl = url;
    return url;
  }

  /** Orders, validates (HTTP-01 through `responder`) and downloads a certificate for `host`. */
  async issue(host: string, responder: ChallengeResponder, signal: AbortSignal): Promise<IssuedCert> {
    const dir = await this.directory(signal);
    if (!this.accountUrl) throw this.fail('newOrder', 'no account: call account() first');
    const created = await this.post(dir.newOrder, { identifiers: [{ type: 'dns', value: host }] }, signal);
    const orderUrl = created.headers.get('location');
    if (!orderUrl) throw this.fail('newOrder', 'the CA answered no order URL (Location header)');
    let order = (await created.json()) as Order;
    for (const authzUrl of order.authorizations) await this.authorize(authzUrl, responder, signal);
    order = await this.poll<Order>(orderUrl, 'order', (o) => o.status !== 'pending', signal);
    if (order.status !== 'ready') throw this.orderFailed(order, 'is not ready after validation');
    const key = newEcKey();
    const keyPEM = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    const csr = b64u(await createCsr(host, keyPEM, signal));
    await (await this.post(order.finalize, { csr }, signal)).body?.cancel();
    order = await this.poll<Order>(orderUrl, 'order', (o) => o.status !== 'processing' && o.status !== 'ready', signal);
    if (order.status !== 'valid' || !order.certificate) throw this.orderFailed(order, 'was not issued');
    const cert = await (await this.post(order.certificate, undefined, signal)).text();
    return { cert, key: keyPEM };
  }

  private async authorize(url: string, responder: ChallengeResponder, signal: AbortSignal): Promise<void> {
    const authz = (await (await this.post(url, undefined, signal)).json()) as Authorization;
    if (authz.status === 'valid') return;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge)
      throw this.fail(
        'authorization',
        `the CA offers no http-01 challenge (only ${authz.challenges.map((c) => c.type).join(', ')})`,
      );
    // The token names a variable and a URL path: only RFC 8555's base64url alphabet is taken.
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(challenge.token))
      throw this.fail(
        'http-01 challenge',
        `the CA's token ${JSON.stringify(challenge.token.slice(0, 64))} is not base64url`,
      );
    await responder.set(challenge.token, `${challenge.token}.${this.thumbprint()}`);
    try {
      await (await this.post(challenge.url, {}, signal)).body?.cancel();
      const done = await this.poll<Authorization>(url, 'authorization', (a) => a.status !== 'pending', signal);
      if (done.status !== 'valid') {
        const why = done.challenges.find((c) => c.type === 'http-01')?.error;
        throw this.fail('http-01 challenge', why ? describe(why) : `the authorization is ${done.status}`);
      }
    } finally {
      await responder.remove(challenge.token);
    }
  }

  private async poll<T extends { status: string }>(
    url: string,
    what: string,
    done: (v: T) => boolean,
    signal: AbortSignal,
  ): Promise<T> {
    const deadline = Date.now() + (this.opts.pollTimeoutMs ?? 90_000);
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      const res = await this.post(url, undefined, signal);
      const value = (await res.json()) as T;
      if (done(value)) return value;
      if (Date.now() > deadline)
        throw this.fail(what, `still ${value.status} after ${this.opts.pollTimeoutMs ?? 90_000} ms`);
      const retryAfter = Number(res.headers.get('retry-after'));
      await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 10_000) : delay, signal);
    }
  }

  private async directory(signal: AbortSignal): Promise<Directory> {
    if (this.dir) return this.dir;
    const res = await this.send(this.opts.directory, { method: 'GET', signal }, 'directory');
    const dir = (await res.json()) as Partial<Directory>;
    if (!dir.newNonce || !dir.newAccount || !dir.newOrder)
      throw this.fail('directory', `${this.opts.directory} is not an ACME directory (no newNonce/newAccount/newOrder)`);
    this.dir = dir as Directory;
    return this.dir;
  }

  private async freshNonce(signal: AbortSignal): Promise<string> {
    const dir = await this.directory(signal);
    const res = await this.send(dir.newNonce, { method: 'HEAD', signal }, 'newNonce');
    const nonce = res.headers.get('replay-nonce');
    if (!nonce) throw this.fail('newNonce', 'the CA answered no Replay-Nonce');
    return nonce;
  }

  /** A signed POST (POST-as-GET when `payload` is undefined); one retry on a stale nonce, as RFC 8555 §6.5 asks. */
  private async post(url: string, payload: unknown, signal: AbortSignal, useJwk = false): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const nonce = this.nonce ?? (await this.freshNonce(signal));
      this.nonce = undefined;
      const header = { alg: 'ES256', nonce, url, ...(useJwk ? { jwk: this.jwk } : { kid: this.accountUrl }) };
      const protectedB64 = b64u(JSON.stringify(header));
      const payloadB64 = payload === undefined ? '' : b64u(JSON.stringify(payload));
      const signature = sign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
        key: this.opts.accountKey,
        dsaEncoding: 'ieee-p1363',
      });
      const body = JSON.stringify({ protected: protectedB64, payload: payloadB64, signature: b64u(signature) });
      const init = { method: 'POST', headers: { 'content-type': 'application/jose+json' }, body, signal };
      try {
        return await this.send(url, init, new URL(url).pathname);
      } catch (e) {
        if (
          attempt === 0 &&
          e instanceof DroverError &&
          e.details?.['acmeType'] === 'urn:ietf:params:acme:error:badNonce'
        )
          continue;
        throw e;
      }
    }
  }

  private async send(url: string, init: RequestInit, what: string): Promise<Response> {
    let res: Response;
    try {
      res = (await undiciFetch(url, {
        ...(init as object),
        dispatcher: this.dispatcher,
      } as never)) as unknown as Response;
    } catch (e) {
      if (init.signal?.aborted) throw e;
      const cause = (e as { cause?: { message?: string; code?: string } }).cause;
      throw this.fail(what, `cannot reach ${url}: ${cause?.message ?? (e as Error).message}`);
    }
    const nonce = res.headers.get('replay-nonce');
    if (nonce) this.nonce = nonce;
    if (res.ok) return res;
    const text = await res.text();
    let problem: Problem;
    try {
      problem = JSON.parse(text) as Problem;
    } catch {
      problem = { detail: text.slice(0, 200) };
    }
    throw this.fail(what, `HTTP ${res.status}: ${describe(problem)}`, problem.type);
  }

  private orderFailed(order: Order, what: string): DroverError {
    return this.fail(
      'order',
      `the order ${what} (status ${order.status}${order.error ? `: ${describe(order.error)}` : ''})`,
    );
  }

  private fail(step: string, message: string, acmeType?: string): DroverError {
    return new DroverError('Unavailable', `ACME ${step}: ${message}`, {
      details: { directory: this.opts.directory, ...(acmeType ? { acmeType } : {}) },
    });
  }
}

function describe(p: Problem): string {
  const type = p.type?.replace('urn:ietf:params:acme:error:', '');
  return [type, p.detail].filter(Boolean).join(': ') || 'no detail';
}
