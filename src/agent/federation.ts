/**
 * Federation: the other regions this server knows, and their servers' addresses.
 *
 *   drover server join B-addr (or server_join { retry_join })
 *     ──► GET B-addr/v1/agent/self: region "B" ≠ ours ──► GET B-addr/v1/agent/servers ──► stored (regions.json)
 *     ──► PUT B-addr/v1/agent/join?address=<this server>: B learns this region the same way (once: a region
 *         already known is not joined back, so the exchange ends)
 *   every refreshMs: each region's server list read again from one of its servers (servers come and go)
 *
 * Each region keeps its own state, leader and ACLs (Nomad without ACL replication); federation only says where
 * to forward a request that names another region. The address book is a small JSON file in the server's data
 * directory, written whole and renamed into place, so a restart keeps the federation and a crash never leaves
 * half a file.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DroverError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { RegionDirectory } from '../http/index.js';
import { sleepOrAborted as sleep } from '../lib/sleep.js';

const FETCH_TIMEOUT_MS = 5000;

export interface FederationOptions {
  region: string;
  /** The address book's file. */
  file: string;
  /** `host:port` other regions reach this server's API at (known once the API listens). */
  self: () => string;
  logger: Logger;
  /** How often each region's server list is read again (default 30 s). */
  refreshMs?: number;
  /** With TLS on: other regions' servers are reached over https with this agent's certificate (`fetch`). */
  tls?: { fetch: typeof fetch };
}

interface AgentSelfShape {
  config?: { Region?: string; Server?: { Enabled?: boolean } };
}

export class Federation implements RegionDirectory {
  private peers = new Map<string, string[]>();
  readonly fetch: typeof fetch;
  private readonly scheme: 'http' | 'https';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: FederationOptions) {
    this.peers = load(opts.file, opts.region);
    this.fetch = opts.tls?.fetch ?? fetch;
    this.scheme = opts.tls ? 'https' : 'http';
  }

  private base(a: string): string {
    return /^https?:\/\//.test(a) ? a.replace(/\/+$/, '') : `${this.scheme}://${a}`;
  }

  private async getJSON<T>(url: string, signal: AbortSignal, token?: string): Promise<T> {
    const res = await this.fetch(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]),
      ...(token ? { headers: { 'X-Nomad-Token': token } } : {}),
    });
    if (!res.ok) throw new Error(`GET ${new URL(url).pathname} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  }

  regions(): string[] {
    return [...new Set([this.opts.region, ...this.peers.keys()])].sort();
  }

  serverFor(region: string): string | undefined {
    const list = this.peers.get(region);
    // Spread over the region's servers; a standby forwards to its leader.
    const addr = list?.[Math.floor(Math.random() * list.length)];
    return addr === undefined ? undefined : this.base(addr);
  }

  /** The stored addresses of each other region, for `/v1/agent/self` and tests. */
  addressBook(): Record<string, string[]> {
    return Object.fromEntries([...this.peers].sort(([a], [b]) => a.localeCompare(b)));
  }

  /**
   * `token`: the caller's, sent to the other region's server (with ACLs on there, it must exist there too: each
   * region resolves tokens itself).
   */
  async join(
    addresses: string[],
    signal: AbortSignal,
    token?: string,
  ): Promise<{ joined: number; sameRegion: string[]; errors: string[] }> {
    const out = { joined: 0, sameRegion: [] as string[], errors: [] as string[] };
    for (const a of addresses) {
      try {
        const self = await this.getJSON<AgentSelfShape>(`${this.base(a)}/v1/agent/self`, signal, token);
        const theirs = self.config?.Region ?? 'global';
        if (self.config?.Server?.Enabled !== true) out.errors.push(`${a} is not a server agent`);
        else if (theirs === this.opts.region) out.sameRegion.push(a);
        else {
          const fresh = !this.peers.has(theirs);
          await this.learn(theirs, a, signal, true, token);
          out.joined++;
          // Tell the region about this one, so requests flow both ways. It joins back only a region it did not know.
          if (fresh) await this.announce(a, signal, token);
        }
      } catch (e) {
        out.errors.push(`${a}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return out;
  }

  /** Reads each region's server list again in the background, until stop(). */
  start(): void {
    const every = this.opts.refreshMs ?? 30_000;
    this.loop = (async () => {
      while (!this.abort.signal.aborted) {
        await sleep(every, this.abort.signal);
        if (this.abort.signal.aborted) return;
        await this.refresh(this.abort.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** One pass: each region's servers from the first of its known servers that answers. */
  async refresh(signal: AbortSignal): Promise<void> {
    for (const [region, list] of [...this.peers]) {
      for (const a of list) {
        try {
          await this.learn(region, a, signal);
          break;
        } catch (e) {
          this.opts.logger.warn('federated region server unreachable', { region, address: a, error: String(e) });
        }
      }
    }
  }

  private async learn(
    region: string,
    address: string,
    signal: AbortSignal,
    explicit = false,
    token?: string,
  ): Promise<void> {
    const servers = await this.getJSON<unknown>(`${this.base(address)}/v1/agent/servers`, signal, token);
    const list = Array.isArray(servers) ? servers.filter((s): s is string => typeof s === 'string') : [];
    const next = list.length > 0 ? list : [hostPort(address)];
    const prev = this.peers.get(region);
    // A second cluster calling itself by a federated region's name: two regions cannot share a name.
    if (explicit && prev && !next.some((s) => prev.includes(s)))
      throw new Error(
        `it is a server of region "${region}", but region "${region}" is already federated with the servers ${prev.join(', ')}, which ${address} does not list: region names must be unique`,
      );
    if (prev && prev.join(',') === next.join(',')) return;
    this.peers.set(region, next);
    save(this.opts.file, this.peers);
    this.opts.logger.info('federated region servers', { region, servers: next.join(',') });
  }

  private async announce(address: string, signal: AbortSignal, token?: string): Promise<void> {
    const url = `${this.base(address)}/v1/agent/join?address=${encodeURIComponent(this.opts.self())}`;
    const res = await this.fetch(url, {
      method: 'PUT',
      ...(token ? { headers: { 'X-Nomad-Token': token } } : {}),
      signal: AbortSignal.any([signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]),
    });
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    if (!res.ok || body.error) throw new Error(`it did not join this region back: ${body.error ?? res.status}`);
  }
}

function hostPort(a: string): string {
  return new URL(/^https?:\/\//.test(a) ? a : `http://${a}`).host;
}

function load(file: string, own: string): Map<string, string[]> {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch {
    return new Map();
  }
  let doc: { Regions?: Record<string, unknown> };
  try {
    doc = JSON.parse(raw) as { Regions?: Record<string, unknown> };
  } catch (e) {
    // Not guessed at: the operator fixes or removes the file (then joins the regions again).
    throw new DroverError(
      'BadRequest',
      `${file} is not valid JSON (${(e as Error).message}): fix it or remove it and join the other regions again`,
    );
  }
  const out = new Map<string, string[]>();
  for (const [region, list] of Object.entries(doc.Regions ?? {}))
    if (region !== own && Array.isArray(list))
      out.set(
        region,
        list.filter((s): s is string => typeof s === 'string'),
      );
  return out;
}

function save(file: string, peers: Map<string, string[]>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify({ Regions: Object.fromEntries(peers) }, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}
