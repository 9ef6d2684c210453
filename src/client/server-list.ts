/**
 * The servers a client agent talks to, as Nomad's client server manager keeps them: the addresses from its
 * config, plus the servers the servers themselves name (`GET /v1/agent/servers`), read again periodically and
 * whenever the client had to fail over. So a client configured with one server keeps working once other servers
 * joined and the first one died.
 *
 *   configured [s1] ──register on s1──► refresh: s1 answers [s1, s2, s3] ──► list [s1, s2, s3]
 *   s1 dies ──► the next call fails over to s2 ──► refresh from s2: [s2, s3] ──► list [s2, s3, s1 (configured)]
 *
 * A configured address is never dropped (it may come back, and it is the only way back in if every learned
 * server moved); a learned one is dropped once the servers no longer name it. The server that answered last
 * stays first, so a refresh does not move a client off a working server.
 */

/** How often a client reads the servers' list again while it keeps talking to them (Nomad: every heartbeat). */
export const SERVER_REFRESH_MS = 30_000;

export class ServerList {
  private list: string[];
  private readonly configured: readonly string[];
  private currentAt = 0;
  private refreshedAt = -Infinity;
  /** The refresh under way, shared by every user of this list (a client's RPC and its per-task copies). */
  refreshing: Promise<void> | undefined;

  constructor(
    configured: readonly string[],
    private readonly scheme: 'http' | 'https' = 'http',
    private readonly refreshMs = SERVER_REFRESH_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.configured = dedupe(configured.map((a) => normalizeServer(a, scheme)));
    this.list = [...this.configured];
  }

  /** The server that answered last (`scheme://host:port`). */
  get current(): string {
    return this.list[this.currentAt]!;
  }

  /** Every known server, the current one first, then in the order they are tried. */
  get all(): string[] {
    return this.order();
  }

  /** The order to try the servers in for one request: the current one, then the next ones, wrapping. */
  order(): string[] {
    const n = this.list.length;
    return Array.from({ length: n }, (_, i) => this.list[(this.currentAt + i) % n]!);
  }

  /** `server` answered a request: it becomes the current one. True when that moved off the previous one. */
  answered(server: string): boolean {
    const at = this.list.indexOf(server);
    if (at < 0 || at === this.currentAt) return false;
    this.currentAt = at;
    return true;
  }

  /** Whether the list is due to be read again. */
  due(): boolean {
    return this.now() - this.refreshedAt >= this.refreshMs;
  }

  /** A read of the servers' list failed: try again after the usual period, not on every request. */
  refreshFailed(): void {
    this.refreshedAt = this.now();
  }

  /**
   * The servers' answer to `GET /v1/agent/servers` (`["host:port", ...]`). Entries that are not addresses are
   * skipped; an answer naming no server changes nothing (a server that knows no peers must not empty the list).
   * Returns whether the list changed.
   */
  learn(answer: unknown): boolean {
    this.refreshedAt = this.now();
    if (!Array.isArray(answer)) return false;
    const learned: string[] = [];
    for (const a of answer) {
      if (typeof a !== 'string' || a.trim() === '') continue;
      try {
        learned.push(normalizeServer(a.trim(), this.scheme));
      } catch {
        // Not an address: skipped, the rest still counts.
      }
    }
    if (learned.length === 0) return false;
    const current = this.current;
    const next = dedupe([current, ...learned, ...this.configured]);
    const changed = next.length !== this.list.length || next.some((s, i) => s !== this.list[i]);
    this.list = next;
    this.currentAt = 0;
    return changed;
  }
}

/** `host:port`, `http://host:port` or `host` (port 4646) as the origin `scheme://host:port`. */
export function normalizeServer(a: string, scheme: 'http' | 'https'): string {
  const withScheme = /^https?:\/\//.test(a) ? a : `${scheme}://${a}`;
  const u = new URL(withScheme);
  if (!u.port && !/^https?:\/\/[^/]+:\d+/.test(withScheme)) u.port = '4646';
  return u.origin;
}

function dedupe(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}
