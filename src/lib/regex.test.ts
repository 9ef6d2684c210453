import { describe, expect, it } from 'vitest';
import { compileGoRegexp, GoRegexp, regexMatches, RegexSyntaxError, regexSyntaxError } from './regex.js';

describe('Go regular expressions', () => {
  it('matches a catastrophic-backtracking pattern in linear time', () => {
    const started = performance.now();
    expect(regexMatches('(a+)+$', 'a'.repeat(5000) + '!')).toBe(false);
    expect(regexMatches('^(a+)+$', 'a'.repeat(5000))).toBe(true);
    expect(regexMatches('(x+x+)+y', 'x'.repeat(5000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('understands Go syntax: inline flags, named groups and \\z', () => {
    expect(compileGoRegexp('(?i)^abc\\z').test('ABC')).toBe(true);
    expect(compileGoRegexp('(?i)^abc\\z').test('ABC\n')).toBe(false);
    const m = compileGoRegexp('(?P<major>\\d+)\\.(?P<minor>\\d+)').exec('v1.22');
    expect(m?.groups).toEqual({ major: '1', minor: '22' });
  });

  it('refuses backreferences and lookaround with Go wording', () => {
    expect(regexSyntaxError('(a)\\1')).toMatch(/^error parsing regexp: /);
    expect(regexSyntaxError('(?=a)')).toMatch(/^error parsing regexp: /);
    expect(() => GoRegexp.compile('a(')).toThrow(RegexSyntaxError);
    expect(regexMatches('a(', 'a(')).toBe(false);
  });

  it('refuses a pattern longer than the bound', () => {
    expect(regexSyntaxError('a'.repeat(5000))).toMatch(/longer than/);
  });

  it('expands replacement templates as Go does', () => {
    const re = compileGoRegexp('(?P<k>\\w+)=(\\w+)');
    expect(re.replaceAll('a=1 b=2', '$2:${k}')).toBe('1:a 2:b');
    expect(re.replaceAll('a=1', '$1x|${1}x|$$')).toBe('|ax|$');
    expect(re.replaceAllLiteral('a=1', '$1')).toBe('$1');
  });

  it('skips an empty match that abuts the previous match, as Go FindAll does', () => {
    const re = compileGoRegexp('a*');
    expect([...re.matchAll('baaac')].map((m) => [m.index, m[0]])).toEqual([
      [0, ''],
      [1, 'aaa'],
      [5, ''],
    ]);
    expect(re.replaceAll('baaac', '-')).toBe('-b-c-');
  });
});
