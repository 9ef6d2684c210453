import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inCidrs, cidrList, routeOptionDocs } from './route-options.js';

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
});
