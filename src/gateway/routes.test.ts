import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  groupRoutes,
  parsePortRanges,
  parseRouteTag,
  prefixMatches,
  RouteTable,
  stripPrefix,
  tcpPortAllowed,
  type PortRanges,
  type TagProblem,
} from './routes.js';
import { instance } from './test-support.js';
import type { RouteSpec } from './types.js';

describe('route tags', () => {
  it('reads a hostless urlprefix tag with a strip option', () => {
    expect(parseRouteTag('urlprefix-/api strip=/api')).toEqual({ host: '', prefix: '/api', strip: '/api' });
  });

  it('reads a host, drops its port and lower-cases it', () => {
    expect(parseRouteTag('urlprefix-Example.COM:8080/docs')).toEqual({
      host: 'example.com',
      prefix: '/docs',
      strip: '',
    });
  });

  it('reads the gateway form with a balancing option', () => {
    expect(parseRouteTag('drover.route=/admin lb=least_conn')).toEqual({
      host: '',
      prefix: '/admin',
      strip: '',
      lb: 'least_conn',
    });
  });

  it('ignores tags that are not routes and reports malformed ones', () => {
    const problems: TagProblem[] = [];
    expect(parseRouteTag('http', problems)).toBeUndefined();
    expect(parseRouteTag('urlprefix-nopath', problems)).toBeUndefined();
    expect(parseRouteTag('urlprefix-/x color=blue', problems)?.error).toMatch(/unknown option "color"/);
    expect(problems.map((p) => p.tag)).toEqual(['urlprefix-nopath', 'urlprefix-/x color=blue']);
  });

  it("reads Fabio's options and the gateway's protection options", () => {
    expect(
      parseRouteTag(
        'urlprefix-/x strip=/x prefix=/base/ proto=https tlsskipverify=true host=in.example weight=0.2 redirect=https',
      ),
    ).toEqual({
      host: '',
      prefix: '/x',
      strip: '/x',
      addPrefix: '/base',
      proto: 'https',
      tlsSkipVerify: true,
      upstreamHost: 'in.example',
      weight: 0.2,
      redirectHttps: true,
    });
    expect(
      parseRouteTag('urlprefix-/y auth=ops allow=ip:10.0.0.0/8,::1 deny=10.1.0.0/16 rate=5 maxbody=1k header=X-A:b=c'),
    ).toEqual({
      host: '',
      prefix: '/y',
      strip: '',
      auth: 'ops',
      allow: ['10.0.0.0/8', '::1'],
      deny: ['10.1.0.0/16'],
      rate: 5,
      maxBody: 1024,
      headers: [['X-A', 'b=c']],
    });
  });

  it('reads TCP and TCP+SNI routes by their port', () => {
    expect(parseRouteTag('urlprefix-:5432 proto=tcp')).toEqual({
      host: '',
      prefix: '',
      strip: '',
      listenPort: 5432,
      proto: 'tcp',
    });
    expect(parseRouteTag('urlprefix-DB.example.com:5433 proto=tcp+sni')).toMatchObject({
      host: 'db.example.com',
      listenPort: 5433,
      proto: 'tcp+sni',
    });
  });

  it.each([
    ['urlprefix-/x weight=2', /weight=2" expects a number above 0/],
    ['urlprefix-/x allow=10.0.0.0/33', /not an address or CIDR/],
    ['urlprefix-/x rate=fast', /whole number/],
    ['urlprefix-/x redirect=301', /only redirect=https/],
    ['urlprefix-/x tlsskipverify=true', /needs proto=https/],
    ['urlprefix-:5432', /add proto=tcp/],
    ['urlprefix-/x proto=tcp', /needs a port/],
    ['urlprefix-:5432 proto=tcp auth=ops', /cannot take HTTP options \(auth\)/],
    ['urlprefix-:99999 proto=tcp', /not between 1 and 65535/],
    ['urlprefix-/x header=X:a"b', /Name:Value/],
  ])('marks %s invalid with a reason', (tag, why) => {
    const problems: TagProblem[] = [];
    expect(parseRouteTag(tag, problems)?.error).toMatch(why);
    expect(problems[0]?.message).toMatch(/the route is not served/);
  });

  it('pools the instances of every service that declares the same route', () => {
    const groups = groupRoutes([
      instance('a', 1, ['urlprefix-/'], { ServiceName: 'web' }),
      instance('b', 2, ['urlprefix-/'], { ServiceName: 'web2' }),
      instance('c', 3, ['urlprefix-/api', 'urlprefix-/'], { ServiceName: 'api' }),
      instance('d', 4, ['urlprefix-/api'], { ServiceName: 'api', Healthy: false }),
    ]);
    const root = groups.find((g) => g.name === '/')!;
    expect(root.services.sort()).toEqual(['api', 'web', 'web2']);
    expect(root.instances.map((i) => i.ID).sort()).toEqual(['a', 'b', 'c']);
    const api = groups.find((g) => g.name === '/api')!;
    expect(api.instances.map((i) => i.ID)).toEqual(['c']);
    expect(api.unhealthy).toBe(1);
  });

  it('refuses a shared route whose services disagree on an option, so no job can strip another one’s auth=', () => {
    const problems: TagProblem[] = [];
    const groups = groupRoutes(
      [
        instance('a', 1, ['urlprefix-/admin auth=ops'], { ServiceName: 'admin' }),
        instance('b', 2, ['urlprefix-/admin'], { ServiceName: 'intruder' }),
        instance('c', 3, ['urlprefix-:7000 proto=tcp allow=10.0.0.0/8'], { ServiceName: 'db' }),
        instance('d', 4, ['urlprefix-:7000 proto=tcp'], { ServiceName: 'other' }),
        instance('e', 5, ['urlprefix-/w weight=0.3'], { ServiceName: 'w1' }),
        instance('f', 6, ['urlprefix-/w'], { ServiceName: 'w2' }),
      ],
      problems,
    );
    const admin = groups.find((g) => g.name === '/admin')!;
    expect(admin.error).toBe(
      'services admin and intruder tag urlprefix-/admin with different options: auth=ops vs none',
    );
    expect(admin.spec.error).toBe(admin.error);
    expect(admin.instances).toEqual([]);
    expect(admin.unhealthy).toBe(2);
    expect(groups.find((g) => g.name === ':7000')!.error).toBe(
      'services db and other tag urlprefix-:7000 with different options: allow=10.0.0.0/8 vs none',
    );
    // weight= is per service and may differ.
    expect(groups.find((g) => g.name === '/w')!.error).toBeUndefined();
    expect(problems.map((p) => p.tag)).toEqual(['urlprefix-/admin', 'urlprefix-:7000 proto=tcp']);
    expect(new RouteTable(groups).match(undefined, '/admin')).toBeUndefined();
  });
});

describe('TCP ports a route may take', () => {
  it('allows only unprivileged ports by default, and only the configured ranges when tcp_ports is set', () => {
    expect(tcpPortAllowed(22, undefined)).toBe(false);
    expect(tcpPortAllowed(1023, undefined)).toBe(false);
    expect(tcpPortAllowed(1024, undefined)).toBe(true);
    const ranges = parsePortRanges('25, 10000-20000') as PortRanges;
    expect(ranges).toEqual([
      [25, 25],
      [10000, 20000],
    ]);
    expect(tcpPortAllowed(25, ranges)).toBe(true);
    expect(tcpPortAllowed(5432, ranges)).toBe(false);
    expect(tcpPortAllowed(20000, ranges)).toBe(true);
    expect(parsePortRanges('0-10')).toMatch(/between 1 and 65535/);
    expect(parsePortRanges('10000-')).toMatch(/got "10000-"/);
  });

  it('makes a TCP route outside the allowed ports a route error that is not served', () => {
    const problems: TagProblem[] = [];
    const groups = groupRoutes([instance('a', 1, ['urlprefix-:22 proto=tcp', 'urlprefix-:5432 proto=tcp'])], problems);
    expect(groups.find((g) => g.name === ':22')!.error).toBe("port 22 is not in the gateway's tcp_ports (1024-65535)");
    expect(groups.find((g) => g.name === ':22')!.instances).toEqual([]);
    expect(groups.find((g) => g.name === ':5432')!.error).toBeUndefined();
    const limited = groupRoutes([instance('a', 1, ['urlprefix-:5432 proto=tcp'])], [], [[10000, 20000]]);
    expect(limited[0]!.error).toBe("port 5432 is not in the gateway's tcp_ports (10000-20000)");
    expect(problems.map((p) => p.tag)).toEqual(['urlprefix-:22 proto=tcp']);
  });
});

describe('prefix matching', () => {
  it('matches on path segment boundaries only', () => {
    expect(prefixMatches('/api', '/api')).toBe(true);
    expect(prefixMatches('/api', '/api/v1')).toBe(true);
    expect(prefixMatches('/api', '/api?x=1')).toBe(true);
    expect(prefixMatches('/api', '/apiary')).toBe(false);
    expect(prefixMatches('/api/', '/api/x')).toBe(true);
    expect(prefixMatches('/', '/anything')).toBe(true);
  });

  it('strips a prefix and keeps the target a valid path', () => {
    expect(stripPrefix('/api', '/api')).toBe('/');
    expect(stripPrefix('/api/v1/x?y', '/api')).toBe('/v1/x?y');
    expect(stripPrefix('/api?y=1', '/api')).toBe('/?y=1');
    expect(stripPrefix('/api/x', '/api/')).toBe('/x');
    expect(stripPrefix('/other', '/api')).toBe('/other');
  });

  it('always leaves a path starting with a slash after stripping', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\/[a-z/]{0,8}$/), fc.stringMatching(/^\/[a-z/?=]{0,12}$/), (strip, url) => {
        expect(stripPrefix(url, strip).startsWith('/')).toBe(true);
      }),
    );
  });

  const spec = (host: string, prefix: string): { spec: RouteSpec } => ({ spec: { host, prefix, strip: '' } });

  it('prefers the route for the host, then the longest prefix', () => {
    const table = new RouteTable([
      spec('', '/'),
      spec('', '/api'),
      spec('', '/api/v2'),
      spec('example.com', '/'),
      spec('example.com', '/api'),
    ]);
    const name = (h: string | undefined, u: string) => {
      const r = table.match(h, u);
      return r ? r.spec.host + r.spec.prefix : undefined;
    };
    expect(name('other', '/api/v2/x')).toBe('/api/v2');
    expect(name('other', '/api/v1')).toBe('/api');
    expect(name('other', '/')).toBe('/');
    expect(name('EXAMPLE.com:8080', '/api/v2')).toBe('example.com/api');
    expect(name('example.com', '/x')).toBe('example.com/');
    expect(name(undefined, '/api')).toBe('/api');
  });

  it('picks the longest matching prefix for any set of routes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^\/[ab]{0,3}$/), { minLength: 1, maxLength: 8 }),
        fc.stringMatching(/^\/[ab/]{0,6}$/),
        (prefixes, url) => {
          const table = new RouteTable(prefixes.map((p) => spec('', p)));
          const matching = prefixes.filter((p) => prefixMatches(p, url));
          const got = table.match(undefined, url);
          if (matching.length === 0) expect(got).toBeUndefined();
          else expect(got!.spec.prefix.length).toBe(Math.max(...matching.map((p) => p.length)));
        },
      ),
    );
  });
});
