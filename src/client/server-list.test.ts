import { describe, expect, it } from 'vitest';
import { normalizeServer, ServerList } from './server-list.js';

describe('the client server list', () => {
  it('starts from the configured servers, each as an origin with the default port when none is given', () => {
    const l = new ServerList(['10.0.0.1', 'http://10.0.0.2:4747', '10.0.0.1:4646']);
    expect(l.all).toEqual(['http://10.0.0.1:4646', 'http://10.0.0.2:4747']);
    expect(normalizeServer('srv:1', 'https')).toBe('https://srv:1');
  });

  it('tries the server that answered last first, then the others in turn', () => {
    const l = new ServerList(['a:1', 'b:1', 'c:1']);
    expect(l.answered('http://a:1')).toBe(false);
    expect(l.answered('http://b:1')).toBe(true);
    expect(l.current).toBe('http://b:1');
    expect(l.order()).toEqual(['http://b:1', 'http://c:1', 'http://a:1']);
    expect(l.answered('http://elsewhere:1')).toBe(false);
  });

  it('adds the servers the servers name, keeps the current one first and the configured ones last', () => {
    const l = new ServerList(['a:1']);
    expect(l.learn(['a:1', 'b:1', 'c:1'])).toBe(true);
    expect(l.all).toEqual(['http://a:1', 'http://b:1', 'http://c:1']);
    l.answered('http://b:1');
    // a is gone from the servers' answer: a learned-only server would be dropped, a configured one stays last.
    expect(l.learn(['b:1', 'c:1', 'd:1'])).toBe(true);
    expect(l.all).toEqual(['http://b:1', 'http://c:1', 'http://d:1', 'http://a:1']);
    expect(l.learn(['c:1'])).toBe(true);
    expect(l.all).toEqual(['http://b:1', 'http://c:1', 'http://a:1']);
  });

  it('ignores an answer that names no server, and entries that are not addresses', () => {
    const l = new ServerList(['a:1', 'b:1']);
    expect(l.learn([])).toBe(false);
    expect(l.learn(null)).toBe(false);
    expect(l.learn({ servers: ['c:1'] })).toBe(false);
    expect(l.learn([42, '', 'not an address:port', 'c:1'])).toBe(true);
    expect(l.all).toEqual(['http://a:1', 'http://c:1', 'http://b:1']);
  });

  it('is due for a refresh at once, then again a period after each read, failed or not', () => {
    let now = 1_000;
    const l = new ServerList(['a:1'], 'http', 30_000, () => now);
    expect(l.due()).toBe(true);
    l.learn(['a:1']);
    expect(l.due()).toBe(false);
    now += 29_999;
    expect(l.due()).toBe(false);
    now += 1;
    expect(l.due()).toBe(true);
    l.refreshFailed();
    expect(l.due()).toBe(false);
  });
});
