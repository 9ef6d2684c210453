/**
 * The web UI: static files under `/ui/`, built from src/ui into dist/ui/static (see src/ui/build.mjs). The UI
 * is a browser client of this same API with hash routing (`/ui/#/jobs/example`), so the server only ever
 * serves files: no server-side rendering, no API of its own.
 *
 *   GET /            ─► 307 /ui/            (as Nomad's agent: a browser pointed at the agent lands in the UI)
 *   GET /ui          ─► 307 /ui/
 *   GET /ui/         ─► index.html
 *   GET /ui/<file>   ─► the file, or 404
 *   GET /ui/jobs/x   ─► 307 /ui/#/jobs/x    (Nomad UI's path-style links keep working)
 */
import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverError } from '../../errors/index.js';
import type { RequestContext, Router } from '../router.js';
import { HANDLED } from '../reply.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** The first path segments of the UI's views: `/ui/<view>/...` is redirected to its hash route. */
const VIEWS = new Set(['jobs', 'allocations', 'clients', 'services', 'evaluations']);

/**
 * Headers every UI file carries. The UI loads nothing from elsewhere and runs no inline script, so the policy
 * can be strict; `frame-ancestors 'none'` keeps the Stop button from being clickjacked. Inline styles are
 * allowed (not scripts): the exec terminal (xterm.js) writes its theme and cell sizes into `<style>` elements.
 * `connect-src 'self'` covers the exec websocket (same host and port, ws: or wss:).
 */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** Where the build puts the UI, relative to this module (dist/http/routes → dist/ui/static). */
export function defaultUiDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui', 'static');
}

const notFound = (what: string) => new DroverError('NotFound', what);

function redirect(c: RequestContext, location: string): typeof HANDLED {
  c.res.writeHead(307, { Location: location, 'Content-Type': 'text/plain; charset=utf-8' });
  c.res.end(`see ${location}\n`);
  return HANDLED;
}

/**
 * The file a request path names, or undefined when it names none we would serve: `..`, `.` and hidden
 * segments, backslashes and NULs are refused before the path is resolved, and the resolved path must stay
 * inside the UI directory.
 */
export function uiFilePath(root: string, rel: string): string | undefined {
  const segments = rel.split('/');
  if (segments.some((s) => s === '' || s.startsWith('.') || s.includes('\\') || s.includes('\0'))) return undefined;
  const full = resolve(root, ...segments);
  return full.startsWith(root.endsWith(sep) ? root : root + sep) ? full : undefined;
}

interface Served {
  body: Buffer;
  etag: string;
}

/**
 * Reads a file of the UI directory, following symlinks only when they stay inside it. Small files, read
 * whole: the UI is tens of kilobytes, and an ETag from the content lets browsers revalidate cheaply.
 */
async function readUiFile(root: string, rel: string): Promise<Served | undefined> {
  const path = uiFilePath(root, rel);
  if (!path) return undefined;
  try {
    const [realRoot, real] = await Promise.all([realpath(root), realpath(path)]);
    if (!real.startsWith(realRoot + sep)) return undefined;
    if (!(await stat(real)).isFile()) return undefined;
    const body = await readFile(real);
    return { body, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
  } catch {
    return undefined;
  }
}

async function serveFile(c: RequestContext, root: string, rel: string): Promise<typeof HANDLED> {
  const file = await readUiFile(root, rel);
  if (!file) {
    if (rel === 'index.html') throw notFound('the web UI is not built: run "npm run build"');
    throw notFound(`no UI file ${rel}`);
  }
  // No file names carry a content hash, so every file is revalidated (cheap: a 304 on the ETag).
  const headers: Record<string, string | number> = {
    ...SECURITY_HEADERS,
    'Cache-Control': 'no-cache',
    ETag: file.etag,
  };
  const match = c.req.headers['if-none-match'];
  if (match !== undefined && match.split(',').some((t) => t.trim() === file.etag || t.trim() === '*')) {
    c.res.writeHead(304, headers);
    c.res.end();
    return HANDLED;
  }
  headers['Content-Type'] = CONTENT_TYPES[extname(rel)] ?? 'application/octet-stream';
  headers['Content-Length'] = file.body.length;
  c.res.writeHead(200, headers);
  c.res.end(c.req.method === 'HEAD' ? undefined : file.body);
  return HANDLED;
}

function rawPath(c: RequestContext): string {
  return (c.req.url ?? '/').split('?')[0] ?? '/';
}

/** The query string of the request, kept across redirects. */
function search(c: RequestContext): string {
  const q = c.query.toString();
  return q ? `?${q}` : '';
}

/** Registers the UI's paths. `root` is the built UI directory (tests pass their own). */
export function uiRoutes(r: Router, root: string = defaultUiDir()): void {
  const dir = resolve(root);
  r.get('/', (c) => redirect(c, '/ui/'));
  r.get('/ui', (c) => {
    // The router matches `/ui` and `/ui/` alike; only the bare form needs a redirect for relative URLs.
    if (!rawPath(c).endsWith('/')) return redirect(c, `/ui/${search(c)}`);
    return serveFile(c, dir, 'index.html');
  });
  r.get('/ui/*path', (c) => {
    const rel = c.params.path!;
    const first = rel.split('/')[0] ?? '';
    // The raw path, still escaped as the browser sent it: `example@prod` must keep its `@` as the separator.
    if (VIEWS.has(first) && extname(rel) === '')
      return redirect(c, `/ui/#/${rawPath(c).slice('/ui/'.length)}${search(c)}`);
    return serveFile(c, dir, rel);
  });
}
