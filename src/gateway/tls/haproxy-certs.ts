/**
 * Certificates for HAProxy's TLS listener (`bind ... ssl crt-list certs.list alpn h2,http/1.1`), kept in step with
 * the CertStore through HAProxy's runtime API, so a new or renewed certificate is served from the next handshake
 * with no reload and no dropped connection:
 *
 *   changed host:  set ssl cert F <<PEM  ->  commit ssl cert F
 *   new host:      new ssl cert F  ->  set ssl cert F <<PEM  ->  commit ssl cert F  ->  add ssl crt-list L <<F host
 *   removed host:  del ssl crt-list L F  ->  del ssl cert F
 *
 * The same files and list are written to disk first, so a reload (a routing change) starts from the same set.
 * The default certificate is the list's first line (no SNI filter): HAProxy serves it when no name matches.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../logging/index.js';
import type { UsableCert } from './certs.js';

export type RuntimeCommand = (command: string) => Promise<string>;

export class HaproxyCerts {
  /** Fingerprint of what HAProxy has, by host ('' = default). */
  private loaded = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  get crtList(): string {
    return join(this.dir, 'certs.list');
  }

  private file(host: string): string {
    return join(this.dir, host === '' ? 'default.pem' : `host-${host.replace('*', '_wildcard_')}.pem`);
  }

  /** Writes every certificate and the list, before HAProxy starts; throws when there is no default one. */
  writeInitial(serving: ReadonlyMap<string, UsableCert>): void {
    if (!serving.has(''))
      throw new Error('the TLS listener needs a usable default certificate (gateway { tls { cert_file key_file } })');
    for (const [host, c] of serving) writeFileSync(this.file(host), pem(c), { mode: 0o600 });
    this.writeList(serving.keys());
    this.loaded = new Map([...serving].map(([h, c]) => [h, c.fingerprint]));
  }

  private writeList(all: Iterable<string>): void {
    const hosts = [...all].filter((h) => h !== '').sort();
    const lines = [this.file(''), ...hosts.map((h) => `${this.file(h)} ${h}`)];
    writeFileSync(this.crtList, lines.join('\n') + '\n', { mode: 0o600 });
  }

  /** Brings HAProxy to `serving` (queued: changes apply in order, one at a time). */
  apply(serving: ReadonlyMap<string, UsableCert>, run: RuntimeCommand): Promise<void> {
    const next = this.queue.then(() => this.applyNow(serving, run));
    this.queue = next.catch(() => {});
    return next;
  }

  private async applyNow(serving: ReadonlyMap<string, UsableCert>, run: RuntimeCommand): Promise<void> {
    // The default stays loaded even when its file certificate went bad: HAProxy needs one for its listener.
    const want = new Map(serving);
    for (const [host, c] of want) {
      if (this.loaded.get(host) === c.fingerprint) continue;
      const f = this.file(host);
      writeFileSync(f, pem(c), { mode: 0o600 });
      const isNew = !this.loaded.has(host);
      if (isNew) await expectOk(run, `new ssl cert ${f}`);
      await expectOk(run, `set ssl cert ${f} <<\n${pem(c)}\n`);
      await expectOk(run, `commit ssl cert ${f}`);
      if (isNew) await expectOk(run, `add ssl crt-list ${this.crtList} <<\n${f} ${host}\n`);
      this.loaded.set(host, c.fingerprint);
      this.logger.info('TLS certificate loaded into HAProxy', { host: host || '(default)' });
    }
    for (const host of [...this.loaded.keys()]) {
      if (host === '' || want.has(host)) continue;
      const f = this.file(host);
      await expectOk(run, `del ssl crt-list ${this.crtList} ${f}`);
      await expectOk(run, `del ssl cert ${f}`);
      this.loaded.delete(host);
      this.logger.info('TLS certificate removed from HAProxy', { host });
    }
    this.writeList(this.loaded.keys());
  }
}

function pem(c: UsableCert): string {
  return `${c.entry.cert.trim()}\n${c.entry.key.trim()}`.replace(/\r/g, '').replace(/\n\s*\n/g, '\n');
}

async function expectOk(run: RuntimeCommand, command: string): Promise<void> {
  const answer = await run(command);
  if (/error|can't|cannot|unknown|not found|failed|invalid/i.test(answer)) {
    const shown = command.split('\n')[0];
    throw new Error(`HAProxy refused "${shown}": ${answer.trim()}`);
  }
}
