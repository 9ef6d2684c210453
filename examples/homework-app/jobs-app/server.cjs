// The jobs app of the homework job (the seed's app_a): lists jobs to callers whose `Authorization` token the
// auth app accepts. A missing or refused token is a 401, an unreachable auth app a 503: never a 500.
'use strict';
const http = require('node:http');

const port = Number(process.env.PORT || 5000);
const host = process.env.HOST || '0.0.0.0';
const authURL = new URL(process.env.AUTH_URL || 'http://127.0.0.1:5001/auth');
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

const JOBS = [{ title: 'Devops', description: 'Awesome' }];

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Resolves true/false for accepted/refused, rejects when the auth app cannot answer. */
function validate(token) {
  return new Promise((resolve, reject) => {
    const form = new URLSearchParams({ token }).toString();
    const req = http.request(
      authURL,
      {
        method: 'POST',
        agent,
        timeout: 5000,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) resolve(true);
          else if (res.statusCode === 401 || res.statusCode === 403) resolve(false);
          else reject(new Error(`auth app answered ${res.statusCode}`));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('auth app timed out')));
    req.on('error', reject);
    req.end(form);
  });
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const url = new URL(req.url || '/', 'http://x');
    if (url.pathname === '/health') return send(res, 200, { status: 'ok' });
    if (url.pathname !== '/jobs') return send(res, 404, { error: 'not found' });
    if (req.method !== 'POST' && req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
    const token = String(req.headers.authorization || '').replace(/^Bearer\s+/i, '').trim();
    if (!token) return send(res, 401, { error: 'missing Authorization token' });
    validate(token).then(
      (ok) => (ok ? send(res, 200, { jobs: JOBS }) : send(res, 401, { error: 'invalid token' })),
      (err) => send(res, 503, { error: `cannot validate the token: ${err.message}` }),
    );
  });
});
server.keepAliveTimeout = 30_000;
server.listen(port, host, () => process.stdout.write(`jobs app listening on ${host}:${port}, auth at ${authURL}\n`));

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
