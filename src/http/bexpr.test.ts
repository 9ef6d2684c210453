import { describe, expect, it } from 'vitest';
import { compileFilter } from './bexpr.js';

const alloc = {
  ID: 'a1',
  JobID: 'web',
  ClientStatus: 'running',
  Count: 3,
  Healthy: true,
  Tags: ['http', 'canary'],
  Meta: { team: 'blue', 'dotted.key': 'x' },
  Empty: [],
  Nothing: null,
};

const passes = (expr: string) => compileFilter(expr).test(alloc);

describe('go-bexpr filters', () => {
  it('compares a field with == and != after converting the literal to the field type', () => {
    expect(passes('ClientStatus == "running"')).toBe(true);
    expect(passes('ClientStatus == running')).toBe(true);
    expect(passes('ClientStatus != "running"')).toBe(false);
    expect(passes('Count == 3')).toBe(true);
    expect(passes('Count == "3"')).toBe(true);
    expect(passes('Healthy == true')).toBe(true);
    expect(passes('Healthy == false')).toBe(false);
  });

  it('follows selectors with dots and brackets into maps', () => {
    expect(passes('Meta.team == "blue"')).toBe(true);
    expect(passes('Meta["dotted.key"] == `x`')).toBe(true);
    expect(passes('Meta.missing == "blue"')).toBe(false);
    expect(passes('Meta.missing != "blue"')).toBe(true);
  });

  it('tests membership with in, not in, contains and not contains', () => {
    expect(passes('"canary" in Tags')).toBe(true);
    expect(passes('"db" not in Tags')).toBe(true);
    expect(passes('Tags contains "http"')).toBe(true);
    expect(passes('Tags not contains "http"')).toBe(false);
    expect(passes('"team" in Meta')).toBe(true);
    expect(passes('JobID contains "e"')).toBe(true);
  });

  it('tests emptiness and regular expressions', () => {
    expect(passes('Empty is empty')).toBe(true);
    expect(passes('Nothing is empty')).toBe(true);
    expect(passes('Tags is not empty')).toBe(true);
    expect(passes('JobID matches "^w.b$"')).toBe(true);
    expect(passes('JobID not matches "^api"')).toBe(true);
  });

  it('combines with and, or, not and parentheses with and binding tighter than or', () => {
    expect(passes('ClientStatus == "failed" or JobID == "web" and Count == 3')).toBe(true);
    expect(passes('(ClientStatus == "failed" or JobID == "web") and Count == 4')).toBe(false);
    expect(passes('not ClientStatus == "failed"')).toBe(true);
    expect(passes('not (Count == 3 and Healthy == true)')).toBe(false);
  });

  it('refuses malformed expressions with the column of the problem', () => {
    expect(() => compileFilter('ClientStatus ==')).toThrow(/filter expression: expected a value at column 16/);
    expect(() => compileFilter('ClientStatus = "x"')).toThrow(/unexpected character "="/);
    expect(() => compileFilter('(JobID == "a"')).toThrow(/expected "\)"/);
    expect(() => compileFilter('JobID == "a" junk')).toThrow(/unexpected "junk"/);
    expect(() => compileFilter('"unterminated')).toThrow(/unterminated string/);
    expect(() => compileFilter('JobID matches "("')).toThrow(/invalid regular expression/);
    expect(() => compileFilter('')).toThrow(/empty expression/);
  });

  it('bounds nesting and length, so a hostile filter cannot exhaust the stack', () => {
    expect(() => compileFilter('('.repeat(100) + 'JobID == "a"' + ')'.repeat(100))).toThrow(/nested deeper/);
    expect(() => compileFilter('JobID == "' + 'a'.repeat(5000) + '"')).toThrow(/longer than/);
  });

  it('matches a hostile pattern in linear time', () => {
    const f = compileFilter('JobID matches "(a+)+$"');
    const t = Date.now();
    expect(f.test({ JobID: 'a'.repeat(5000) + '!' })).toBe(false);
    expect(Date.now() - t).toBeLessThan(2000);
  });
});
