import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyRouteOption, inCidrs, cidrList, parseCidr, routeOptionDocs } from './route-options.js';

describe('route options', () => {
  it('are every one documented in the operations guide table', () => {
    const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    for (const o of routeOptionDocs()) expect(doc).toContain(`| \`${o.syntax.replace(/\|/g, '\\|')}\` |`);
  });

  it('match IPv4 networks for plain and IPv4-mapped IPv6 client addresses', () => {
    const list = cidrList(['10.0.0.0/8', '::1']);
    expect(inCidrs(list, '10.2.3.4')).toBe(true);
    expect(inCidrs(list, '::ffff:10.2.3.4')).toBe(true);
    expect(inCidrs(list, '::1')).toBe(true);
    expect(inCidrs(list, '11.0.0.1')).toBe(false);
  });

  it('refuse an IPv6 zone ID in allow= and deny=, which neither plane can match', () => {
    expect(parseCidr('fe80::1%eth0')).toBeUndefined();
    expect(parseCidr('fe80::1')).toBeDefined();
    expect(applyRouteOption({ host: '', prefix: '/', strip: '' }, 'allow=fe80::1%eth0')).toMatch(/fe80::1%eth0/);
  });

  it('refuse a maxbody= over 16g, which HAProxy would print as a float', () => {
    const spec = { host: '', prefix: '/', strip: '' };
    expect(applyRouteOption(spec, 'maxbody=999999999999g')).toMatch(/at most 16g/);
    expect(applyRouteOption(spec, 'maxbody=16g')).toBeUndefined();
    expect(spec).toMatchObject({ maxBody: 16 * 1024 ** 3 });
  });
});
