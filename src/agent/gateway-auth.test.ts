import { describe, expect, it, vi } from 'vitest';
import { DroverError } from '../errors/index.js';
import { nullLogger } from '../logging/index.js';
import type { Server } from '../server/index.js';
import { GATEWAY_AUTH_PREFIX, VariableAuthSource } from './gateway-auth.js';

const HASH = `$6$salt$${'a'.repeat(86)}`;

/** One term's Server: the variables it holds, answering blocking queries at once. */
function termVars(users: Record<string, string>): Pick<Server['vars'], 'list' | 'get'> {
  const path = `${GATEWAY_AUTH_PREFIX}admins`;
  return {
    list: () => new Promise((r) => setTimeout(() => r({ index: 7, value: [{ Path: path }] }), 10)),
    get: () => Promise.resolve({ index: 7, value: { Path: path, Items: users } }),
  } as unknown as Pick<Server['vars'], 'list' | 'get'>;
}

describe('VariableAuthSource', () => {
  it('starts while the HA proxy answers NotLeader, and reads the users from each term’s server', async () => {
    let vars: Pick<Server['vars'], 'list' | 'get'> | undefined;
    const proxy = {
      get vars() {
        if (!vars) throw new DroverError('NotLeader', 'not the leader');
        return vars;
      },
    };
    const auth = new VariableAuthSource(proxy, nullLogger);
    const stop = new AbortController();
    await auth.load(stop.signal);
    expect(auth.users('admins')).toBeUndefined();

    const following = auth.follow(stop.signal);
    vars = termVars({ alice: HASH });
    await vi.waitFor(() => expect([...(auth.users('admins') ?? new Map()).keys()]).toEqual(['alice']), {
      timeout: 5000,
    });
    // A failover: the next term's Server, with other users, is read, not the first one kept.
    vars = undefined;
    await new Promise((r) => setTimeout(r, 50));
    vars = termVars({ bob: HASH });
    await vi.waitFor(() => expect([...(auth.users('admins') ?? new Map()).keys()]).toEqual(['bob']), {
      timeout: 5000,
    });
    stop.abort();
    await following;
  });
});
