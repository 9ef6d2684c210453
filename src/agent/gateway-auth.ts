/**
 * Users for the gateway's `auth=NAME` routes, from the server's Variables: `gateway/auth/NAME` in the
 * default namespace, one item per user whose value is a SHA-512 crypt hash (`openssl passwd -6`). A blocking
 * query on the variables table re-reads them on every change, so a new password works on the next request
 * (Node plane) or after the next reload (HAProxy plane, told through `subscribe`), with no restart.
 */
import type { AuthSource } from '../gateway/index.js';
import { sleepOrAborted } from '../lib/sleep.js';
import { isSha512Crypt } from '../lib/sha-crypt.js';
import type { Logger } from '../logging/index.js';
import type { Server } from '../server/index.js';

/** Where auth users live; documented in docs/gateway.md. */
export const GATEWAY_AUTH_PREFIX = 'gateway/auth/';
const WAIT_MS = 5 * 60_000;

export class VariableAuthSource implements AuthSource {
  private byName = new Map<string, ReadonlyMap<string, string>>();
  private readonly listeners = new Set<() => void>();
  private index = 0;

  /**
   * `server.vars` is read on every query, never kept: with etcd HA the server is a proxy that answers NotLeader
   * until this agent leads, and whose Server changes with each term.
   */
  constructor(
    private readonly server: { readonly vars: Pick<Server['vars'], 'list' | 'get'> },
    private readonly logger: Logger,
  ) {}

  users(name: string): ReadonlyMap<string, string> | undefined {
    return this.byName.get(name);
  }

  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  /**
   * Reads the users once now, so the gateway starts with them. It does not fail: a server that cannot answer
   * yet (NotLeader before this agent's HA seat leads) leaves no users until `follow` reads them.
   */
  async load(signal: AbortSignal): Promise<void> {
    try {
      await this.refresh(0, signal);
    } catch (e) {
      if (signal.aborted) return;
      this.logger.warn('could not read gateway auth users yet; retrying', { error: String(e) });
    }
  }

  async follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.refresh(WAIT_MS, signal);
      } catch (e) {
        if (signal.aborted) return;
        // Read afresh next time: after a failover the new leader's Server may not reach the index seen.
        this.index = 0;
        this.logger.warn('could not read gateway auth users; keeping the last ones', { error: String(e) });
        await sleepOrAborted(1000, signal);
      }
    }
  }

  private async refresh(waitMs: number, signal: AbortSignal): Promise<void> {
    const q = { namespace: 'default', prefix: GATEWAY_AUTH_PREFIX, signal };
    const listed = await this.server.vars.list(waitMs > 0 ? { ...q, minIndex: this.index, waitMs } : q);
    if (listed.index === this.index && waitMs > 0) return;
    this.index = listed.index;
    const next = new Map<string, ReadonlyMap<string, string>>();
    for (const meta of listed.value) {
      const name = meta.Path.slice(GATEWAY_AUTH_PREFIX.length);
      const v = (await this.server.vars.get('default', meta.Path)).value;
      if (v === null || name === '' || name.includes('/')) continue;
      const users = new Map<string, string>();
      for (const [user, hash] of Object.entries(v.Items)) {
        if (isSha512Crypt(hash)) users.set(user, hash);
        else
          this.logger.warn(
            'gateway auth user skipped: its value is not a SHA-512 crypt hash ($6$, openssl passwd -6)',
            {
              variable: meta.Path,
              user,
            },
          );
      }
      next.set(name, users);
    }
    const changed =
      JSON.stringify([...next].map(([n, u]) => [n, [...u]])) !==
      JSON.stringify([...this.byName].map(([n, u]) => [n, [...u]]));
    this.byName = next;
    if (changed) for (const l of this.listeners) l();
  }
}
