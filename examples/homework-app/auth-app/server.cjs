// The auth app of the homework job (the seed's app_b): answers whether a token is valid, keeping the tokens in
// SQLite. better-sqlite3 is loaded from the image's node_modules, with the addon path given explicitly so no
// module-resolution helper is needed; it was compiled for the very node binary the image carries.
'use strict';
const http = require('node:http');
const path = require('node:path');
const fs = require('node:fs');
const Database = require('better-sqlite3');

const port = Number(process.env.PORT || 5001);
const host = process.env.HOST || '0.0.0.0';
// /tmp by default: the image runs as nobody, and /tmp is the one place it can always write.
const dbPath = process.env.AUTH_DB_PATH || '/tmp/auth/auth.db';
const seedTokens = (process.env.AUTH_TOKENS || 'mytoken').split(',').map((t) => t.trim()).filter(Boolean);

fs.mkdirSync(path.dirname(dbPath), { recursive: true });
const db = new Database(dbPath, {
  nativeBinding: path.join(__dirname, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'),
});
db.pragma('journal_mode = WAL');
// The seed's schema.sql: one table of tokens.
db.exec('CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY NOT NULL)');
const insert = db.prepare('INSERT OR IGNORE INTO tokens (token) VALUES (?)');
for (const t of seedTokens) insert.run(t);
const lookup = db.prepare('SELECT 1 FROM tokens WHERE token = ?');

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// The token comes as a form field (`token=...`, as the seed's app_a sent it), a JSON body, or the
// Authorization header itself.
function tokenOf(req, body) {
  const type = String(req.headers['content-type'] || '');
  if (type.includes('application/json')) {
    try {
      const v = JSON.parse(body).token;
      if (typeof v === 'string') return v;
    } catch {
      return '';
    }
  } else if (body) {
    const v = new URLSearchParams(body).get('token');
    if (v) return v;
  }
  return String(req.headers.authorization || '').replace(/^Bearer\s+/i, '');
}

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => {
    body += c;
    if (body.length > 65536) req.destroy();
  });
  req.on('end', () => {
    const url = new URL(req.url || '/', 'http://x');
    if (url.pathname === '/health') return send(res, 200, { status: 'ok' });
    if (url.pathname !== '/auth') return send(res, 404, { status: 'not found' });
    if (req.method !== 'POST' && req.method !== 'GET') return send(res, 405, { status: 'method not allowed' });
    const token = tokenOf(req, body);
    if (token && lookup.get(token)) return send(res, 200, { status: 'success' });
    return send(res, 401, { status: 'fail' });
  });
});
server.keepAliveTimeout = 30_000;
server.listen(port, host, () => process.stdout.write(`auth app listening on ${host}:${port}, tokens in ${dbPath}\n`));

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => {
      db.close();
      process.exit(0);
    });
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
