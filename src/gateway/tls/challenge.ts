/**
 * ACME HTTP-01 (RFC 8555 §8.3): the CA fetches `http://<host>/.well-known/acme-challenge/<token>` from the plain
 * HTTP listener and expects the key authorization as the body. Both data planes answer it here (HAProxy sends
 * that path to the gateway's Node admin listener).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** `handler`, except that challenge paths are answered from `lookup` (404 for an unknown token). */
export function withAcmeChallenge(
  handler: Handler,
  lookup: ((token: string) => string | undefined | Promise<string | undefined>) | undefined,
): Handler {
  if (lookup === undefined) return handler;
  return (req, res) => {
    const url = req.url;
    // '.' after the first '/' is rare in real paths, so most requests skip the string comparison.
    if (url === undefined || url.charCodeAt(1) !== 46 || !url.startsWith(ACME_CHALLENGE_PREFIX))
      return handler(req, res);
    const token = url.slice(ACME_CHALLENGE_PREFIX.length).split('?')[0] ?? '';
    const found = /^[A-Za-z0-9_-]{1,256}$/.test(token) ? lookup(token) : undefined;
    if (typeof found === 'object')
      found.then(
        (answer) => answerChallenge(res, token, answer),
        () => answerChallenge(res, token, undefined),
      );
    else answerChallenge(res, token, found);
  };
}

function answerChallenge(res: ServerResponse, token: string, answer: string | undefined): void {
  const body = answer ?? `no ACME challenge pending for token ${JSON.stringify(token)}\n`;
  res.writeHead(answer === undefined ? 404 : 200, {
    'content-type': answer === undefined ? 'text/plain; charset=utf-8' : 'application/octet-stream',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
