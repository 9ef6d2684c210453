// The go-demo API (Viktor Farcic's Go service from the DevOps 2.1 Toolkit) as a Node script: everything under
// /demo, as the proxy routes it. GET /demo/hello answers "hello, <greeting>!" (GREETING comes from the KV store
// through a template); PUT /demo/person?name=N stores a person in the database, GET /demo/person lists them.
// DB is the database's host:port (rendered from the catalog). Every answer names its allocation in X-Alloc-Id.
'use strict';
const http = require('node:http');

const greeting = process.env.GREETING || 'world';
const db = process.env.DB || '';
const alloc = process.env.NOMAD_ALLOC_ID || '';

/** One request to the database; resolves with its status and body. */
function dbRequest(method, path) {
  return new Promise((resolve, reject) => {
    if (!db) return reject(new Error('no database address (DB) yet'));
    const [host, port] = db.split(':');
    const req = http.request({ host, port: Number(port), method, path, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('database timed out')));
    req.on('error', reject);
    req.end();
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const send = (status, body, type = 'text/plain') => {
    res.writeHead(status, { 'content-type': type, 'x-alloc-id': alloc });
    res.end(body);
  };
  try {
    if (url.pathname === '/demo/hello' && req.method === 'GET') return send(200, `hello, ${greeting}!\n`);
    if (url.pathname === '/demo/person') {
      const name = url.searchParams.get('name');
      if (req.method === 'PUT') {
        if (!name) return send(400, 'name is required\n');
        const r = await dbRequest('PUT', `/people/${encodeURIComponent(name)}`);
        return send(r.status === 200 ? 200 : 502, r.status === 200 ? 'saved\n' : `database answered ${r.status}\n`);
      }
      if (req.method === 'GET') {
        const r = await dbRequest('GET', '/people');
        return send(r.status === 200 ? 200 : 502, r.body, 'application/json');
      }
    }
    send(404, 'not found\n');
  } catch (e) {
    send(503, `database unreachable: ${e.message}\n`);
  }
});
server.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
