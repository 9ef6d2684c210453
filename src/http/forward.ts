/**
 * Forwarding a whole API request to another agent (a standby server to the leader): method, path, query,
 * headers and body go as they came, and the answer streams back as it comes, so blocking queries and
 * log streams work through it. A leader that cannot be reached answers as `Unavailable` (503).
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { DroverError } from '../errors/index.js';

/** Header that marks a forwarded request, so two agents that both think the other leads cannot loop. */
export const FORWARDED_HEADER = 'x-drover-forwarded';

export function forwardRequest(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      reject(
        new DroverError(
          'Unavailable',
          `no leader: the request was already forwarded once and ${target} is not leading either`,
        ),
      );
      return;
    }
    const url = new URL(req.url ?? '/', target);
    const out = request(
      url,
      { method: req.method, headers: { ...req.headers, host: url.host, [FORWARDED_HEADER]: '1' } },
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
            `forwarding ${req.method} ${url.pathname} to the leader at ${target} failed: ${e.message}`,
            { cause: e },
          ),
        );
    });
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
}
