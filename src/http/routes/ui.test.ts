import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nullLogger } from '../../logging/index.js';
import { Router } from '../router.js';
import { buildRouter, handleRequest } from '../server.js';
import { uiFilePath, uiRoutes } from './ui.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Sends a request with the path exactly as written: fetch() would normalise `..` and some escapes away,
 * and those are what the traversal tests need to reach the server.
 */
function get(
  base: string,
  rawPath: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: rawPath, method: opts.method ?? 'GET', headers: opts.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function listen(router: Router): Promise<{ server: Server; base: string }> {
  const handler = handleRequest(router, { agent: { self: () => ({ agent: 'self' }) }, logger: nullLogger });
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('the web UI route', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'drover-ui-route-'));
  const root = join(tmp, 'static');
  let server: Server;
  let base = '';

  beforeAll(async () => {
    mkdirSync(join(root, 'app'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>Drover</title>');
    writeFileSync(join(root, 'style.css'), 'body { margin: 0 }');
    writeFileSync(join(root, 'app', 'main.js'), 'export {};');
    writeFileSync(join(root, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(root, '.hidden'), 'secret');
    writeFileSync(join(tmp, 'outside.txt'), 'outside the UI directory');
    symlinkSync(join(tmp, 'outside.txt'), join(root, 'escape.txt'));
    const router = new Router();
    router.get('/v1/agent/self', () => ({ agent: 'self' }));
    uiRoutes(router, root);
    ({ server, base } = await listen(router));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('serves index.html at /ui/ as HTML that browsers revalidate', async () => {
    const a = await get(base, '/ui/');
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(a.headers['cache-control']).toBe('no-cache');
    expect(a.headers['etag']).toMatch(/^".+"$/);
    expect(a.headers['content-security-policy']).toContain("default-src 'self'");
    expect(a.headers['x-content-type-options']).toBe('nosniff');
    expect(a.body).toBe('<!doctype html><title>Drover</title>');
  });

  it.each([
    ['/ui/app/main.js', 'text/javascript; charset=utf-8'],
    ['/ui/style.css', 'text/css; charset=utf-8'],
    ['/ui/logo.svg', 'image/svg+xml'],
  ])('serves %s with Content-Type %s', async (path, type) => {
    const a = await get(base, path);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe(type);
    expect(Number(a.headers['content-length'])).toBe(Buffer.byteLength(a.body));
  });

  it('answers 304 without a body when the ETag still matches', async () => {
    const first = await get(base, '/ui/style.css');
    const again = await get(base, '/ui/style.css', { headers: { 'If-None-Match': String(first.headers['etag']) } });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const changed = await get(base, '/ui/style.css', { headers: { 'If-None-Match': '"something-else"' } });
    expect(changed.status).toBe(200);
  });

  it('answers HEAD with the headers and no body', async () => {
    const a = await get(base, '/ui/app/main.js', { method: 'HEAD' });
    expect(a.status).toBe(200);
    expect(a.headers['content-length']).toBe(String(Buffer.byteLength('export {};')));
    expect(a.body).toBe('');
  });

  it('answers 404 in plain text for a file the UI does not have', async () => {
    const a = await get(base, '/ui/app/nope.js');
    expect(a.status).toBe(404);
    expect(a.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(a.body).toBe('no UI file app/nope.js');
  });

  it.each([
    '/ui/%2e%2e/outside.txt',
    '/ui/..%2foutside.txt',
    '/ui/app/%2e%2e/%2e%2e/outside.txt',
    '/ui/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/ui/..%5coutside.txt',
    '/ui/.hidden',
    '/ui/index.html%00.css',
    '/ui/escape.txt',
  ])('refuses the traversal %s with a 404', async (path) => {
    const a = await get(base, path);
    expect(a.status).toBe(404);
    expect(a.body).not.toContain('outside the UI directory');
    expect(a.body).not.toContain('secret');
  });

  it('leaves a literal /ui/.. to the URL parser, which never reaches the UI directory', async () => {
    const a = await get(base, '/ui/../outside.txt');
    expect(a.status).toBe(404);
    expect(a.body).toBe('no API route for GET /outside.txt');
  });

  it('redirects / and /ui to /ui/, keeping the query string', async () => {
    const root = await get(base, '/');
    expect(root.status).toBe(307);
    expect(root.headers['location']).toBe('/ui/');
    const bare = await get(base, '/ui?namespace=prod');
    expect(bare.status).toBe(307);
    expect(bare.headers['location']).toBe('/ui/?namespace=prod');
  });

  it("redirects Nomad UI's path-style links to the matching hash route", async () => {
    const a = await get(base, '/ui/jobs/example@default');
    expect(a.status).toBe(307);
    expect(a.headers['location']).toBe('/ui/#/jobs/example@default');
    expect((await get(base, '/ui/clients')).headers['location']).toBe('/ui/#/clients');
  });

  it('leaves the API paths untouched', async () => {
    const a = await get(base, '/v1/agent/self');
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('application/json');
    expect(JSON.parse(a.body)).toEqual({ agent: 'self' });
    expect((await get(base, '/v1/nope')).body).toBe('no API route for GET /v1/nope');
  });
});

describe('the web UI route without a built UI', () => {
  it('says the UI is not built and how to build it', async () => {
    const { server, base } = await listen(
      ((r) => (uiRoutes(r, join(tmpdir(), 'drover-no-such-ui-dir')), r))(new Router()),
    );
    try {
      const a = await get(base, '/ui/');
      expect(a.status).toBe(404);
      expect(a.body).toBe('the web UI is not built: run "npm run build"');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("is part of every agent's router, after the API routes", () => {
    const r = buildRouter({ agent: { self: () => ({}) }, logger: nullLogger });
    expect(r.match('GET', '/')).toMatchObject({ params: {} });
    expect(r.match('GET', '/ui/app/main.js')).toMatchObject({ params: { path: 'app/main.js' } });
    expect(r.match('GET', '/v1/agent/self')).toMatchObject({ params: {} });
  });
});

describe('uiFilePath', () => {
  it('keeps a plain relative path inside the root and refuses the rest', () => {
    expect(uiFilePath('/srv/ui', 'app/main.js')).toBe('/srv/ui/app/main.js');
    expect(uiFilePath('/srv/ui', '../ui-other/x.js')).toBeUndefined();
    expect(uiFilePath('/srv/ui', 'app//main.js')).toBeUndefined();
    expect(uiFilePath('/srv/ui', 'app/./main.js')).toBeUndefined();
  });
});
