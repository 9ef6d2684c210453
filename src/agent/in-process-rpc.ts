/**
 * The server as a client agent in the same process reaches it. Over HTTP a task's template reads with the task's
 * workload identity (`withToken`), and the KV rules filter what it gets; in process there is no HTTP layer, so with
 * ACLs on this gives the server the same `withToken`: KV reads filtered by what that identity may read.
 */
import type { AclService } from '../acl/index.js';
import { kvAclPath } from '../http/index.js';
import type { Server } from '../server/index.js';
import type { KVEntry } from '../structs/index.js';

type KvList = Server['kvList'];

/** Every member of `server`, bound to it, except those in `over`. */
function over<T extends object>(server: T, members: Record<PropertyKey, unknown>): T {
  return new Proxy(server, {
    get(target, prop) {
      if (Object.hasOwn(members, prop)) return members[prop as keyof typeof members];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export function inProcessRPC(server: Server, acl: AclService | undefined): Server {
  if (!acl) return server;
  const withToken = (token: string): Server => {
    const kvList: KvList = async (prefix, q) => {
      const res = await server.kvList(prefix, q);
      const id = acl.resolve(token);
      const mayRead = (e: KVEntry) => id.acl.allowVariableOperation('default', kvAclPath(e.Key), 'read');
      return { ...res, value: res.value.filter(mayRead) };
    };
    return over(server, { kvList });
  };
  return over(server, { withToken });
}
