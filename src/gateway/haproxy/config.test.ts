import { describe, expect, it } from 'vitest';
import { instance } from '../test-support.js';
import { rewriteLines } from './route-rules.js';
import { renderHaproxyConfig, safeForHaproxy, slotCount, type HaproxyRoute } from './config.js';

const opts = {
  listen: { host: '127.0.0.1', port: 8080 },
  statsSocket: '/run/gw/admin.sock',
  ejectAfter: 3,
  checkIntervalMs: 2000,
};

describe('HAProxy configuration', () => {
  const routes: HaproxyRoute[] = [
    {
      name: '/',
      spec: { host: '', prefix: '/', strip: '' },
      lb: 'round_robin',
      services: ['web'],
      backend: 'r0',
      slots: [instance('w1', 9001, []), undefined],
    },
    {
      name: '/api',
      spec: { host: '', prefix: '/api', strip: '/api' },
      lb: 'least_conn',
      services: ['api'],
      backend: 'r1',
      slots: [instance('a1', 9101, [])],
    },
    {
      name: 'shop.example.com/',
      spec: { host: 'shop.example.com', prefix: '/', strip: '' },
      lb: 'round_robin',
      services: ['shop'],
      backend: 'r2',
      slots: [],
    },
  ];
  const text = renderHaproxyConfig(routes, opts);

  it('matches host routes first, then longest prefixes, on segment boundaries', () => {
    const uses = text
      .split('\n')
      .filter((l) => l.trim().startsWith('use_backend'))
      .map((l) => l.trim());
    expect(uses).toEqual([
      'use_backend r2 if { var(txn.host) -m str shop.example.com } r2_path',
      'use_backend r1 if r1_path',
      'use_backend r0 if r0_path',
    ]);
    expect(text).toContain('acl r1_path path -m str /api\n  acl r1_path path -m beg /api/');
    expect(text).toContain('acl r0_path path -m beg /');
  });

  it('fills slots with instances and disables the empty ones', () => {
    expect(text).toMatch(/server s1 127\.0\.0\.1:9001 check/);
    expect(text).toMatch(/server s2 127\.0\.0\.1:1 disabled check/);
    expect(text).toContain('observe layer4 error-limit 3 on-error mark-down');
  });

  it('strips the prefix, balances as asked and names the route in its error pages', () => {
    const api = text.slice(text.indexOf('\nbackend r1'), text.indexOf('\nbackend r2'));
    expect(api).toContain('balance leastconn');
    expect(api).toContain('http-request replace-path ^/api$ /');
    expect(api).toContain('http-request replace-path ^/api(/.*)$ \\1');
    expect(api).toContain('route: /api\\nreason: no_instance');
  });

  it('sets the forwarded headers and a 404 page for unmatched requests', () => {
    expect(text).toContain('option forwardfor');
    expect(text).toContain('X-Forwarded-Proto http unless');
    expect(text).toContain('X-Real-IP %[src]');
    expect(text).toContain('default_backend no_route');
    expect(text).toContain('retry-on conn-failure empty-response');
    expect(text).toContain('http-request disable-l7-retry unless METH_GET || METH_OPTIONS');
  });

  it('extracts the Host for host routes only', () => {
    expect(text).toContain('set-var(txn.host) req.hdr(host),field(1,:),lower');
    expect(renderHaproxyConfig(routes.slice(0, 2), opts)).not.toContain('txn.host');
  });

  it('refuses routes whose characters could break the configuration', () => {
    expect(safeForHaproxy({ host: '', prefix: '/api/v1', strip: '' })).toBe(true);
    expect(safeForHaproxy({ host: '', prefix: '/a#b', strip: '' })).toBe(false);
    expect(safeForHaproxy({ host: 'x"y', prefix: '/', strip: '' })).toBe(false);
    const base = { host: '', prefix: '/', strip: '' };
    expect(safeForHaproxy({ ...base, addPrefix: '/a b' })).toBe(false);
    expect(safeForHaproxy({ ...base, upstreamHost: 'a b' })).toBe(false);
    expect(safeForHaproxy({ ...base, auth: 'a"b' })).toBe(false);
    expect(safeForHaproxy({ ...base, maxBody: 1e21 })).toBe(false);
    expect(safeForHaproxy({ ...base, headers: [['X-A', 'a b']] })).toBe(false);
    expect(safeForHaproxy({ ...base, allow: ['fe80::1%eth0'] })).toBe(false);
    expect(safeForHaproxy({ ...base, addPrefix: '/a%20b', allow: ['::1/128'], maxBody: 1024 })).toBe(true);
  });

  it('escapes % in prefix= so HAProxy does not read it as a log-format tag', () => {
    expect(rewriteLines({ host: '', prefix: '/', strip: '', addPrefix: '/a%20b' })).toEqual([
      '  http-request set-path /a%%20b%[path]',
    ]);
  });

  it('leaves room for twice the instances, at least four slots', () => {
    expect([0, 1, 2, 3, 5, 9].map(slotCount)).toEqual([4, 4, 4, 8, 16, 32]);
  });
});
