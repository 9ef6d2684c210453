// The seed's Air Quality API (a Go service there) as a dependency-free Node script, reached through Drover's
// gateway under /air:
//   GET /air/air-quality?lat=50&lon=1  the nearest city's air quality, from the upstream service; the answer
//                                      is stored in PostgreSQL as a reading
//   GET /air/api/readings               the stored readings, newest first (at most 100)
//   GET /air/queried-cities             the cities queried so far (the seed's /queried-cities)
//   GET /air/health                     200 when PostgreSQL answers, 503 otherwise (the service check)
//
// Where the database and the upstream are, and the database password, come from secrets/db.env, rendered by a
// template from the catalog and the Drover Variable nomad/jobs/air-quality. It is read again on every request,
// so a moved database or a new password needs no restart. PostgreSQL is reached through `psql`, the client
// Debian's postgresql package installs: no npm dependency to vendor. The password reaches psql only through
// its environment (PGPASSWORD), never an argument, and never appears in an answer.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');

const PREFIX = process.env.PREFIX || '/air';
/** The newest installed psql itself: /usr/bin/psql is Debian's Perl wrapper, slower to start on every query. */
const PSQL =
  process.env.PSQL ||
  (() => {
    try {
      const versions = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
      const found = versions.map((v) => `/usr/lib/postgresql/${v}/bin/psql`).find((p) => fs.existsSync(p));
      if (found) return found;
    } catch {
      /* not a Debian layout: the psql on PATH */
    }
    return 'psql';
  })();
const CONFIG = path.join(process.env.NOMAD_SECRETS_DIR || 'secrets', 'db.env');

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** KEY=VALUE lines of secrets/db.env. */
function config() {
  const out = {};
  let text = '';
  try {
    text = fs.readFileSync(CONFIG, 'utf8');
  } catch {
    throw new HttpError(503, `${CONFIG} is not rendered yet`);
  }
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/**
 * Runs `sql` (read from stdin, so psql substitutes :'name' with each of `vars` quoted as an SQL literal) and
 * returns psql's unaligned, tuples-only output. Bounded by 10 s.
 */
function psql(sql, vars = {}) {
  const c = config();
  if (!c.PGHOST || !c.PGPORT) throw new HttpError(503, 'the database "air-quality-db" is not in the catalog yet');
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];
  for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
  const env = {
    PATH: process.env.PATH || '/usr/bin:/bin',
    PGHOST: c.PGHOST,
    PGPORT: c.PGPORT,
    PGUSER: c.PGUSER || 'airq',
    PGDATABASE: c.PGDATABASE || 'airquality',
    PGPASSWORD: c.PGPASSWORD || '',
    PGCONNECT_TIMEOUT: '5',
  };
  return new Promise((resolve, reject) => {
    const p = spawn(PSQL, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new HttpError(503, `database: cannot run psql: ${e.message}`));
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim());
      else reject(new HttpError(503, `database: ${err.trim() || `psql ended with ${signal || code}`}`));
    });
    p.stdin.end(sql);
  });
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS readings (
  id          bigserial PRIMARY KEY,
  city        text NOT NULL,
  state       text NOT NULL,
  country     text NOT NULL,
  lat         double precision NOT NULL,
  lon         double precision NOT NULL,
  aqius       integer NOT NULL,
  mainus      text NOT NULL,
  observed_at timestamptz NOT NULL,
  queried_at  timestamptz NOT NULL DEFAULT now()
);`;

/** Creates the table once per process; a failure is tried again on the next request. */
let schema;
function ensureSchema() {
  schema ??= psql(SCHEMA).catch((e) => {
    schema = undefined;
    throw e;
  });
  return schema;
}

function coordinate(url, name, limit) {
  const raw = url.searchParams.get(name);
  const n = Number(raw);
  if (raw === null || raw.trim() === '' || !Number.isFinite(n) || Math.abs(n) > limit)
    throw new HttpError(400, `query parameter "${name}" must be a number between -${limit} and ${limit}`);
  return n;
}

async function airQuality(url) {
  const lat = coordinate(url, 'lat', 90);
  const lon = coordinate(url, 'lon', 180);
  const upstream = config().UPSTREAM;
  if (!upstream) throw new HttpError(503, 'the upstream "aq-upstream" is not in the catalog yet');
  let body;
  try {
    const r = await fetch(`http://${upstream}/v2/nearest_city?lat=${lat}&lon=${lon}`, {
      signal: AbortSignal.timeout(5_000),
    });
    body = await r.json();
  } catch (e) {
    throw new HttpError(502, `upstream ${upstream}: ${e.message}`);
  }
  if (body?.status !== 'success') throw new HttpError(502, `upstream: ${body?.data?.message ?? 'no answer'}`);
  const d = body.data;
  const p = d.current.pollution;
  await ensureSchema();
  const row = await psql(
    `INSERT INTO readings (city, state, country, lat, lon, aqius, mainus, observed_at)
     VALUES (:'city', :'state', :'country', :'lat', :'lon', :'aqius', :'mainus', :'ts') RETURNING id;`,
    { city: d.city, state: d.state, country: d.country, lat, lon, aqius: p.aqius, mainus: p.mainus, ts: p.ts },
  );
  return { id: Number(row), city: d.city, state: d.state, country: d.country, aqius: p.aqius, observedAt: p.ts };
}

async function readings() {
  await ensureSchema();
  return JSON.parse(
    await psql(`SELECT coalesce(json_agg(json_build_object(
        'id', id, 'city', city, 'state', state, 'country', country, 'lat', lat, 'lon', lon,
        'aqius', aqius, 'mainus', mainus, 'observedAt', observed_at, 'queriedAt', queried_at) ORDER BY id DESC), '[]')
      FROM (SELECT * FROM readings ORDER BY id DESC LIMIT 100) r;`),
  );
}

async function queriedCities() {
  await ensureSchema();
  return JSON.parse(await psql(`SELECT coalesce(json_agg(DISTINCT city ORDER BY city), '[]') FROM readings;`));
}

const routes = {
  [`${PREFIX}/air-quality`]: airQuality,
  [`${PREFIX}/api/readings`]: readings,
  [`${PREFIX}/queried-cities`]: queriedCities,
  [`${PREFIX}/health`]: async () => {
    await psql('SELECT 1;');
    return { status: 'ok' };
  },
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://api');
  const send = (status, value) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value) + '\n');
  };
  const route = routes[url.pathname];
  if (!route) return send(404, { error: `no route ${url.pathname}` });
  if (req.method !== 'GET') return send(405, { error: `${req.method} is not allowed on ${url.pathname}` });
  route(url).then(
    (value) => send(200, value),
    (e) => send(e instanceof HttpError ? e.status : 500, { error: e.message }),
  );
});
server.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
