/**
 * The gateway's own answers when it cannot forward: they name the route and the reason, so whoever reads them
 * knows whether to look at the tags (404), the instances' health (503) or the instances themselves (502, 504).
 */
import type { ServerResponse } from 'node:http';
import type { ErrorReason } from './metrics.js';

const TITLES: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  404: 'Not Found',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Writes a plain-text error page; the reason code is also in the `X-Drover-Gateway-Error` header. */
export function sendErrorPage(
  res: ServerResponse,
  status: number,
  reason: ErrorReason,
  route: string | undefined,
  detail: string,
  extraHeaders?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { head, body } = errorPageText(status, reason, route, detail);
  res.writeHead(status, { ...head.headers, ...extraHeaders });
  res.end(body);
}

/** The error page's status title, headers and body, for either the node:http path or the raw fast path. */
export function errorPageText(
  status: number,
  reason: ErrorReason,
  route: string | undefined,
  detail: string,
): { head: { title: string; headers: Record<string, string | number> }; body: string } {
  const title = TITLES[status] ?? 'Error';
  const body = `${status} ${title}\nroute: ${route ?? '(none)'}\nreason: ${reason}\n${detail}\n(Drover gateway)\n`;
  const headers = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-drover-gateway-error': reason,
  };
  return { head: { title, headers }, body };
}
