/** The key of a `/v1/kv/<key>` request, shared by its handler and its ACL rule so both act on the same key. */
import { DroverError } from '../errors/index.js';
import type { RequestContext } from './router.js';

/**
 * The key named by the request target: everything after `/v1/kv/`, percent-decoded. Read from the raw target,
 * not the router's segments, which drop empty ones: `config/` (a prefix ending at a "folder") and `config` are
 * different prefixes, as `a//b` and `a/b` are different keys in Consul.
 */
export function keyOf(c: RequestContext): string {
  const target = c.req.url ?? '';
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const at = path.indexOf('/v1/kv');
  const raw = at < 0 ? '' : path.slice(at + '/v1/kv'.length).replace(/^\//, '');
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new DroverError('BadRequest', `invalid key: ${JSON.stringify(raw)} is not valid percent-encoding`);
  }
}
