/**
 * Forwarding a whole API request to another agent (a standby server to the leader): method, path, query,
 * headers and body go as they came, and the answer streams back as it comes, so blocking queries and
 * log streams work through it. A leader that cannot be reached answers as `Unavailable` (503).
 * An `https://` target is reached over mutual TLS with the agent's certificate (`tls`), checked as a server's.
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { badRequest, DroverError, ErrorCodes, type ErrorCode } from '../errors/index.js';
import type { TlsClientMaterial } from '../lib/tls-fetch.js';
import type { HttpApiOptions } from './types.js';
import { JsonReply } from './reply.js';

/** Header that marks a forwarded request, so two agents that both think the other leads cannot loop. */
export const FORWARDED_HEADER = 'x-drover-forwarded';

/**
 * Header that marks a request forwarded to another region. It is not FORWARDED_HEADER: the region's server may
 * still forward it once to its own leader. A region-forwarded request that lands in a third region is refused.
 */
export const REGION_FORWARDED_HEADER = 'x-drover-region-forwarded';

/**
 * Forwards the request as it came to `target`: `kind` 'leader' (a standby to its leader, at most once) or
 * 'region' (to a server of the region the request names). An `https://` target is dialled with `tls`.
 */
export function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  kind: 'leader' | 'region' = 'leader',
  tls?: TlsClientMaterial,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (kind === 'leader' && req.headers[FORWARDED_HEADER] !== undefined) {
      reject(
        new DroverError(
          'Unavailable',
          `no leader: the request was already forwarded once and ${target} is not leading either`,
        ),
      );
      return;
    }
    const url = new URL(req.url ?? '/', target);
    const headers = {
      ...req.headers,
      host: url.host,
      ...(kind === 'leader' ? { [FORWARDED_HEADER]: '1' } : { [REGION_FORWARDED_HEADER]: '1' }),
    };
    if (url.protocol === 'https:' && !tls) {
      reject(new DroverError('Unavailable', `cannot forward to ${target}: this agent has no TLS certificates`));
      return;
    }
    const out = (url.protocol === 'https:' ? httpsRequest : request)(
      url,
      {
        method: req.method,
        headers,
        ...(url.protocol === 'https:' && tls
          ? {
              ca: tls.ca,
              cert: tls.cert,
              key: tls.key,
              ...(tls.checkServerIdentity ? { checkServerIdentity: tls.checkServerIdentity } : {}),
            }
          : {}),
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('end', () => resolve());
        up.on('error', () => resolve());
      },
    );
    out.on('error', (e) => {
      if (res.headersSent) {
        res.destroy();
        resolve();
      } else
        reject(
          new DroverError(
            'Unavailable',
            `forwarding ${req.method} ${url.pathname} to ${kind === 'leader' ? 'the leader' : 'a server of the region'} at ${target} failed: ${e.message}`,
            { cause: e },
          ),
        );
    });
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
}

/** Header on a job registration sent by a multiregion rollout: the receiving region registers its part only. */
export const MULTIREGION_HEADER = 'x-drover-multiregion';

/**
 * `http://host:port` of a server of `region`, another region than this agent's. A request already forwarded
 * from another region that still names a third one is refused rather than passed on: the regions' address
 * books disagree, and passing it on could loop.
 */
export function regionServer(opts: HttpApiOptions, region: string, forwarded: unknown): string {
  const here = opts.region ?? 'global';
  if (forwarded !== undefined)
    throw badRequest(
      `no path to region "${region}": the request was forwarded to this server of region "${here}" by another region`,
    );
  const target = opts.regions?.serverFor(region);
  if (target === undefined)
    throw badRequest(
      `no path to region "${region}": known regions are ${(opts.regions?.regions() ?? [here]).map((r) => `"${r}"`).join(', ')} (join a server of it with "drover server join")`,
    );
  return target;
}

/**
 * Sends a JSON body this agent already read (a job whose `Region` is another region) to a server of that region,
 * with the caller's headers (its ACL token: each region checks its own), and answers with that server's reply.
 * `fetchFn`: the federation's (mutual TLS with this agent's certificate when TLS is on).
 */
export async function forwardJSONToRegion(
  req: IncomingMessage,
  target: string,
  body: unknown,
  signal: AbortSignal,
  fetchFn: typeof fetch = fetch,
): Promise<JsonReply> {
  const url = new URL(req.url ?? '/', target);
  const headers: Record<string, string> = { 'content-type': 'application/json', [REGION_FORWARDED_HEADER]: '1' };
  for (const h of ['x-nomad-token', 'authorization']) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  let up: Response;
  try {
    up = await fetchFn(url, { method: req.method ?? 'PUT', headers, body: JSON.stringify(body), signal });
  } catch (e) {
    throw new DroverError(
      'Unavailable',
      `forwarding ${req.method} ${url.pathname} to a server of the region at ${target} failed: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const text = await up.text();
  if (!up.ok) {
    // The region's error, with its code: the caller sees what it would have seen asking that region.
    const code = up.headers.get('x-drover-error-code') ?? '';
    throw new DroverError(code in ErrorCodes ? (code as ErrorCode) : 'Unavailable', text);
  }
  const parsed: unknown = JSON.parse(text);
  const index = Number(up.headers.get('x-nomad-index') ?? '') || undefined;
  return new JsonReply(parsed, index, up.status);
}
