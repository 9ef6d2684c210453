/**
 * The gateway's certificates: which one a TLS handshake gets for its SNI name, and why a given one is not used.
 *
 *   layers:  file (tls { cert_file key_file }, the default)  <  variables (nomad/gateway/certs/<host>, ACME too)
 *            acme: entries that only carry an ACME order's failure for a host, so it is listed with the others
 *   set(layer, entries) --check each (parse, dates, key matches, names cover the host)--> usable ones by host
 *        |                                                                                  |
 *        +--> problems kept per host (shown by GET /certs and `drover gateway certs`)      onChange(listeners)
 *   contextFor(sni): exact host --> `*.parent` wildcard entry --> the default (file) certificate
 *
 * A bad certificate never replaces a good one: a host whose new certificate is expired or does not match its key
 * keeps what it had (or falls back to the default), and every other host keeps serving.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';

/** Where a certificate came from. */
export type CertSourceKind = 'file' | 'variable' | 'acme';

/** One certificate as configured: `host` is the SNI name it serves ('' for the default certificate). */
export interface CertEntry {
  host: string;
  /** PEM: the leaf first, then any intermediates. */
  cert: string;
  /** PEM private key matching the leaf. */
  key: string;
  source: CertSourceKind;
  /** Where it was read from: a file path or a variable path. */
  origin: string;
  /** Set when the entry could not even be read (a variable without a key item): it is not served. */
  problem?: string;
}

/** One certificate as shown by `GET /certs` and `drover gateway certs`. */
export interface CertInfo {
  /** The SNI name it serves; '' for the default certificate. */
  Host: string;
  Source: CertSourceKind;
  Origin: string;
  /** DNS names in the certificate (subjectAltName, else the CN). */
  Names: string[];
  NotBefore: string;
  NotAfter: string;
  /** True when handshakes for Host get this certificate now. */
  Serving: boolean;
  /** Why it is not served ('' when it is). */
  Problem: string;
}

/** A checked certificate, ready for handshakes. */
export interface UsableCert {
  entry: CertEntry;
  names: string[];
  notBefore: number;
  notAfter: number;
  /** The SHA-256 fingerprint of the leaf: equal fingerprints are the same certificate. */
  fingerprint: string;
}

/** Checks a certificate: parseable, in its validity period at `now`, matching its key, covering its host. */
export function checkCert(entry: CertEntry, now: number): { cert?: UsableCert; info: CertInfo } {
  const info: CertInfo = {
    Host: entry.host,
    Source: entry.source,
    Origin: entry.origin,
    Names: [],
    NotBefore: '',
    NotAfter: '',
    Serving: false,
    Problem: '',
  };
  const fail = (problem: string) => ({ info: { ...info, Problem: problem } });
  if (entry.problem !== undefined) return fail(entry.problem);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(entry.cert);
  } catch (e) {
    return fail(`the certificate is not a PEM X.509 certificate (${(e as Error).message})`);
  }
  const names = certNames(x509);
  const notBefore = Date.parse(x509.validFrom);
  const notAfter = Date.parse(x509.validTo);
  Object.assign(info, {
    Names: names,
    NotBefore: new Date(notBefore).toISOString(),
    NotAfter: new Date(notAfter).toISOString(),
  });
  if (notAfter <= now) return fail(`the certificate expired at ${info.NotAfter}`);
  if (notBefore > now) return fail(`the certificate is not valid before ${info.NotBefore}`);
  try {
    if (!x509.checkPrivateKey(createPrivateKey(entry.key))) return fail('the key does not match the certificate');
  } catch (e) {
    return fail(`the key is not a PEM private key (${(e as Error).message})`);
  }
  if (entry.host !== '' && !names.some((n) => nameCovers(n, entry.host)))
    return fail(`the certificate is for ${names.join(', ') || '(no names)'}, not ${entry.host}`);
  return {
    cert: { entry, names, notBefore, notAfter, fingerprint: x509.fingerprint256 },
    info: { ...info, Serving: true },
  };
}

/** DNS names of a certificate: its subjectAltName DNS entries, else its CN. */
function certNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName ?? '';
  const dns = [...san.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]!.toLowerCase());
  if (dns.length > 0) return dns;
  const cn = /CN=([^\n,]+)/.exec(x509.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** Whether a certificate name (possibly `*.example.com`) covers `host`. */
export function nameCovers(name: string, host: string): boolean {
  if (name === host) return true;
  if (!name.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === name.slice(2);
}

/** A host as a variable path segment or SNI name: lower case, a DNS name or `*.` wildcard. */
export function validHost(host: string): boolean {
  return /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host) && host.length <= 253;
}

export class CertStore {
  private readonly layers = new Map<CertSourceKind, CertEntry[]>();
  /** What handshakes get, by host ('' = default). */
  private serving = new Map<string, UsableCert>();
  private readonly contexts = new Map<string, SecureContext>();
  private infos: CertInfo[] = [];
  private readonly listeners = new Set<(serving: ReadonlyMap<string, UsableCert>) => void>();
  /** Problems already reported, so a watch loop re-yielding the same set does not repeat them in the log. */
  private reported = new Set<string>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly onProblem: (info: CertInfo) => void = () => {},
  ) {}

  /** Replaces one layer's certificates; returns the problems found in it. */
  set(layer: CertSourceKind, entries: CertEntry[]): CertInfo[] {
    this.layers.set(layer, entries);
    return this.recompute();
  }

  /** Re-checks every certificate (called on a timer, so one that expires while served is reported). */
  recompute(): CertInfo[] {
    const now = this.now();
    const next = new Map<string, UsableCert>();
    const infos: CertInfo[] = [];
    // Later layers win for the same host: a variable (or ACME) certificate overrides the file one.
    for (const layer of ['file', 'variable', 'acme'] as const) {
      for (const entry of this.layers.get(layer) ?? []) {
        const { cert, info } = checkCert(entry, now);
        infos.push(info);
        if (cert) next.set(entry.host, cert);
      }
    }
    // A host whose new certificate is bad keeps the good one it had, while that one is still valid.
    for (const [host, old] of this.serving) {
      const wanted = infos.some((i) => i.Host === host);
      if (!next.has(host) && wanted && old.notAfter > now && this.stillConfigured(old)) next.set(host, old);
    }
    for (const info of infos) info.Serving = next.get(info.Host)?.entry.origin === info.Origin && info.Problem === '';
    const problems = infos.filter((i) => i.Problem !== '');
    const reported = new Set(problems.map((p) => `${p.Origin}\u0000${p.Problem}`));
    for (const p of problems) if (!this.reported.has(`${p.Origin}\u0000${p.Problem}`)) this.onProblem(p);
    this.reported = reported;
    const changed = !sameServing(this.serving, next);
    this.serving = next;
    this.infos = infos;
    if (changed) {
      for (const host of [...this.contexts.keys()]) {
        const c = next.get(host);
        if (!c || c.fingerprint !== this.contextFingerprints.get(host)) this.contexts.delete(host);
      }
      for (const l of this.listeners) l(next);
    }
    return problems;
  }

  private readonly contextFingerprints = new Map<string, string>();

  private stillConfigured(old: UsableCert): boolean {
    return (this.layers.get(old.entry.source) ?? []).some((e) => e.host === old.entry.host);
  }

  /** Every configured certificate with whether it is served and why not. */
  list(): CertInfo[] {
    return this.infos.map((i) => ({ ...i }));
  }

  /** The certificates served now, by host ('' = default). */
  servingNow(): ReadonlyMap<string, UsableCert> {
    return this.serving;
  }

  /** Called with the served set whenever it changes. */
  onChange(listener: (serving: ReadonlyMap<string, UsableCert>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The certificate for an SNI name: exact, then wildcard, then the default; undefined when none. */
  pick(servername: string | undefined): UsableCert | undefined {
    const host = (servername ?? '').toLowerCase();
    if (host !== '') {
      const exact = this.serving.get(host);
      if (exact) return exact;
      const dot = host.indexOf('.');
      const wild = dot > 0 ? this.serving.get(`*${host.slice(dot)}`) : undefined;
      if (wild) return wild;
    }
    return this.serving.get('');
  }

  /** The secure context for an SNI name (cached per certificate). */
  contextFor(servername: string | undefined): SecureContext | undefined {
    const c = this.pick(servername);
    if (!c) return undefined;
    const host = c.entry.host;
    let ctx = this.contexts.get(host);
    if (!ctx || this.contextFingerprints.get(host) !== c.fingerprint) {
      ctx = createSecureContext({ cert: c.entry.cert, key: c.entry.key });
      this.contexts.set(host, ctx);
      this.contextFingerprints.set(host, c.fingerprint);
    }
    return ctx;
  }
}

function sameServing(a: ReadonlyMap<string, UsableCert>, b: ReadonlyMap<string, UsableCert>): boolean {
  if (a.size !== b.size) return false;
  for (const [host, c] of a) if (b.get(host)?.fingerprint !== c.fingerprint) return false;
  return true;
}
