import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Attribute } from '../ast.js';
import { evaluate } from '../evaluator.js';
import { makeEvalContext } from '../index.js';
import { parseHCL } from '../parser.js';
import { type Value, toJS, typeName, typeOf } from '../values.js';
import type { FunctionOptions } from './index.js';

function run(src: string, opts: FunctionOptions = { allowFS: false }): { value: Value; errors: string[] } {
  const r = parseHCL(`x = ${src}\n`, 'f.hcl');
  expect(r.diagnostics).toEqual([]);
  const c = makeEvalContext({ functions: opts });
  const e = evaluate((r.body.items[0] as Attribute).expr, c);
  return { value: e.value, errors: e.diagnostics.map((d) => `${d.summary}: ${d.detail}`) };
}

function call(src: string, opts?: FunctionOptions): unknown {
  const r = run(src, opts);
  expect(r.errors).toEqual([]);
  return toJS(r.value);
}

function fails(src: string, opts?: FunctionOptions): string {
  const r = run(src, opts);
  expect(r.errors.length).toBeGreaterThan(0);
  return r.errors.join('\n');
}

const cases: Record<string, Array<[string, unknown]>> = {
  abs: [
    ['abs(-3.5)', 3.5],
    ['abs(2)', 2],
  ],
  ceil: [
    ['ceil(1.2)', 2],
    ['ceil(-1.2)', -1],
  ],
  floor: [
    ['floor(1.8)', 1],
    ['floor(-1.2)', -2],
  ],
  log: [
    ['log(8, 2)', 3],
    ['log(100, 10)', 2],
  ],
  max: [
    ['max(1, 9, 3)', 9],
    ['max([4, 2]...)', 4],
  ],
  min: [
    ['min(1, 9, 3)', 1],
    ['min("5", 7)', 5],
  ],
  parseint: [
    ['parseint("ff", 16)', 255],
    ['parseint("-101", 2)', -5],
  ],
  pow: [
    ['pow(2, 10)', 1024],
    ['pow(9, 0.5)', 3],
  ],
  signum: [
    ['signum(-7)', -1],
    ['signum(0)', 0],
  ],
  chomp: [
    ['chomp("hi\\n\\n")', 'hi'],
    ['chomp("a\\r\\n")', 'a'],
  ],
  format: [
    ['format("%s-%d", "web", 3)', 'web-3'],
    ['format("%.2f|%5s|%-4d|%05d", 3.14159, "ab", 7, 42)', '3.14|   ab|7   |00042'],
    ['format("%q %v %t %x %X %%", "a\\"b", 1.5, true, 255, 255)', '"a\\"b" 1.5 true ff FF %'],
    ['format("%[2]s %[1]s", "a", "b")', 'b a'],
    ['format("%v", [1, "a"])', '[1,"a"]'],
    ['format("%e %g", 1500, 0.5)', '1.500000e+03 0.5'],
  ],
  formatlist: [
    ['formatlist("%s=%d", ["a", "b"], [1, 2])', ['a=1', 'b=2']],
    ['formatlist("x-%s", ["a"])', ['x-a']],
  ],
  indent: [
    ['indent(2, "a\\nb")', 'a\n  b'],
    ['indent(0, "x")', 'x'],
  ],
  join: [
    ['join(",", ["a", "b"])', 'a,b'],
    ['join("-", ["a"], ["b", "c"])', 'a-b-c'],
  ],
  lower: [['lower("HeLLo")', 'hello']],
  upper: [['upper("hello")', 'HELLO']],
  regex: [
    ['regex("[a-z]+", "123abc456")', 'abc'],
    ['regex("(\\\\d+)-(\\\\d+)", "10-20")', ['10', '20']],
    ['regex("(?P<a>\\\\w+)@(?P<b>\\\\w+)", "me@host")', { a: 'me', b: 'host' }],
    ['regex("(?i)ABC", "xabcx")', 'abc'],
  ],
  regexall: [
    ['regexall("[0-9]+", "a1b22c333")', ['1', '22', '333']],
    ['length(regexall("z", "abc"))', 0],
  ],
  regex_replace: [
    ['regex_replace("a1b2", "[0-9]", "#")', 'a#b#'],
    ['regex_replace("k=v", "(\\\\w)=(\\\\w)", "$2=$1")', 'v=k'],
  ],
  replace: [
    ['replace("a-b-c", "-", "+")', 'a+b+c'],
    ['replace("a1b2", "/[0-9]/", "")', 'ab'],
  ],
  split: [
    ['split(",", "a,b,c")', ['a', 'b', 'c']],
    ['split(",", "")', ['']],
  ],
  strrev: [['strrev("abc")', 'cba']],
  strlen: [['strlen("héllo")', 5]],
  substr: [
    ['substr("hello world", 1, 4)', 'ello'],
    ['substr("hello", -3, -1)', 'llo'],
  ],
  title: [['title("hello world-wide")', 'Hello World-Wide']],
  trim: [['trim("?!hello?!", "!?")', 'hello']],
  trimprefix: [
    ['trimprefix("helloworld", "hello")', 'world'],
    ['trimprefix("x", "y")', 'x'],
  ],
  trimsuffix: [['trimsuffix("helloworld", "world")', 'hello']],
  trimspace: [['trimspace("  a b \\n")', 'a b']],
  chunklist: [
    ['chunklist(["a", "b", "c"], 2)', [['a', 'b'], ['c']]],
    ['chunklist([], 2)', []],
  ],
  coalesce: [
    ['coalesce("", null, "b", "c")', 'b'],
    ['coalesce(1, "x")', '1'],
  ],
  coalescelist: [['coalescelist([], ["a"], ["b"])', ['a']]],
  compact: [['compact(["a", "", "b", null])', ['a', 'b']]],
  concat: [
    ['concat(["a"], ["b", "c"])', ['a', 'b', 'c']],
    ['concat([1], ["x"])', [1, 'x']],
  ],
  contains: [
    ['contains(["a", "b"], "b")', true],
    ['contains(["a"], "z")', false],
  ],
  distinct: [['distinct(["a", "b", "a"])', ['a', 'b']]],
  element: [
    ['element(["a", "b"], 1)', 'b'],
    ['element(["a", "b"], 3)', 'b'],
  ],
  flatten: [['flatten([["a", ["b"]], [], ["c"]])', ['a', 'b', 'c']]],
  index: [['index(["a", "b"], "b")', 1]],
  keys: [['keys({b = 1, a = 2})', ['a', 'b']]],
  values: [['values({b = 1, a = 2})', [2, 1]]],
  length: [
    ['length([1, 2])', 2],
    ['length({a = 1})', 1],
    ['length("héllo")', 5],
  ],
  lookup: [
    ['lookup({a = "x"}, "a")', 'x'],
    ['lookup({a = "x"}, "b", "dflt")', 'dflt'],
  ],
  merge: [['merge({a = 1, b = 2}, {b = 3}, null)', { a: 1, b: 3 }]],
  range: [
    ['range(3)', [0, 1, 2]],
    ['range(1, 8, 3)', [1, 4, 7]],
    ['range(5, 1)', [5, 4, 3, 2]],
  ],
  reverse: [['reverse([1, 2, 3])', [3, 2, 1]]],
  setintersection: [['setintersection(["a", "b"], ["b", "c"])', ['b']]],
  setproduct: [
    [
      'setproduct(["a", "b"], [1])',
      [
        ['a', 1],
        ['b', 1],
      ],
    ],
  ],
  setsubtract: [['setsubtract(["a", "b"], ["b"])', ['a']]],
  setunion: [['setunion(["a"], ["b", "a"])', ['a', 'b']]],
  slice: [['slice(["a", "b", "c", "d"], 1, 3)', ['b', 'c']]],
  sort: [
    ['sort(["c", "a", "b"])', ['a', 'b', 'c']],
    ['sort(["10", "9"])', ['10', '9']],
  ],
  transpose: [['transpose({a = ["1", "2"], b = ["2"]})', { '1': ['a'], '2': ['a', 'b'] }]],
  zipmap: [['zipmap(["a", "b"], [1, 2])', { a: 1, b: 2 }]],
  base64encode: [['base64encode("hello")', 'aGVsbG8=']],
  base64decode: [['base64decode("aGVsbG8=")', 'hello']],
  csvdecode: [['csvdecode("a,b\\n1,\\"x,y\\"\\n")', [{ a: '1', b: 'x,y' }]]],
  jsonencode: [['jsonencode({b = [1, true, null], a = "x"})', '{"a":"x","b":[1,true,null]}']],
  jsondecode: [['jsondecode("{\\"a\\": [1, \\"b\\"]}")', { a: [1, 'b'] }]],
  urlencode: [['urlencode("a b&c")', 'a+b%26c']],
  formatdate: [
    ['formatdate("YYYY-MM-DD hh:mm:ss", "2024-03-05T07:08:09Z")', '2024-03-05 07:08:09'],
    ['formatdate("EEE, DD MMM YYYY H:mm AA ZZZZZ", "2024-03-05T19:08:09+02:00")', 'Tue, 05 Mar 2024 7:08 PM +02:00'],
    ['formatdate("\'Day\' D", "2024-03-05T07:08:09Z")', 'Day 5'],
  ],
  timeadd: [
    ['timeadd("2024-01-01T00:00:00Z", "1h30m")', '2024-01-01T01:30:00Z'],
    ['timeadd("2024-01-01T00:00:00+01:00", "-24h")', '2023-12-31T00:00:00+01:00'],
  ],
  md5: [['md5("hello")', '5d41402abc4b2a76b9719d911017c592']],
  sha1: [['sha1("hello")', 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d']],
  sha256: [['sha256("hello")', '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824']],
  sha512: [['substr(sha512("hello"), 0, 16)', '9b71d224bd62f378']],
  uuidv5: [['uuidv5("dns", "www.example.com")', '2ed6657d-e927-568b-95e1-2665a8aea6a2']],
  cidrhost: [
    ['cidrhost("10.12.112.0/20", 16)', '10.12.112.16'],
    ['cidrhost("fd00:fd12:3456:7890::/56", 16)', 'fd00:fd12:3456:7800::10'],
  ],
  cidrnetmask: [['cidrnetmask("172.16.0.0/12")', '255.240.0.0']],
  cidrsubnet: [
    ['cidrsubnet("172.16.0.0/12", 4, 2)', '172.18.0.0/16'],
    ['cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162)', 'fd00:fd12:3456:7800:a200::/72'],
  ],
  cidrsubnets: [['cidrsubnets("10.1.0.0/16", 4, 4, 8)', ['10.1.0.0/20', '10.1.16.0/20', '10.1.32.0/24']]],
  tobool: [['tobool("true")', true]],
  tonumber: [['tonumber("1.5")', 1.5]],
  tostring: [['tostring(5)', '5']],
  tolist: [['tolist(["a", "b"])', ['a', 'b']]],
  toset: [['toset(["a", "a"])', ['a']]],
  tomap: [['tomap({a = 1})', { a: 1 }]],
  convert: [['convert([1, 2], list(string))', ['1', '2']]],
  can: [
    ['can(tonumber("x"))', false],
    ['can(tonumber("1"))', true],
  ],
  try: [
    ['try(tonumber("x"), "fallback")', 'fallback'],
    ['try(1, 2)', 1],
  ],
  basename: [['basename("/a/b.txt")', 'b.txt']],
  dirname: [['dirname("/a/b.txt")', '/a']],
};

describe('standard functions', () => {
  for (const [name, list] of Object.entries(cases)) {
    it(`${name} returns what HCL returns`, () => {
      for (const [src, want] of list) expect(call(src), src).toEqual(want);
    });
  }

  it('uuidv4 produces a version-4 UUID from the injected random bytes', () => {
    const v = call('uuidv4()', { randomBytes: (n) => Buffer.alloc(n, 0xff) });
    expect(v).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff');
  });

  it('returns typed results: keys is a list of string, concat of mixed lists a tuple', () => {
    expect(typeName(typeOf(run('keys({a = 1})').value))).toBe('list(string)');
    expect(typeName(typeOf(run('tolist([1, "a"])').value))).toBe('list(string)');
  });

  it('reports argument errors with the argument range and parameter name', () => {
    const r = parseHCL('x = upper([1])\n', 'f.hcl');
    const e = evaluate((r.body.items[0] as Attribute).expr, makeEvalContext({}));
    expect(e.diagnostics[0]).toMatchObject({ summary: 'Invalid function argument', range: { start: { column: 11 } } });
    expect(e.diagnostics[0]?.detail).toContain('"str"');
  });

  it('reports arity, unknown functions and failures', () => {
    expect(fails('upper("a", "b")')).toContain('Too many function arguments');
    expect(fails('nosuch(1)')).toContain('There is no function named "nosuch"');
    expect(fails('element([], 0)')).toContain('empty list');
    expect(fails('regex("z", "abc")')).toContain('did not match');
    expect(fails('range(0, 5000)')).toContain('1024');
    expect(fails('try(tonumber("x"), tonumber("y"))')).toContain('no expression succeeded');
    expect(fails('format("%d", 1.5)')).toContain('integer');
  });

  it('reads files relative to the base directory, or refuses when the filesystem is disabled', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hcl-fs-'));
    writeFileSync(join(dir, 'data.txt'), 'payload\n');
    expect(call('file("data.txt")', { baseDir: dir })).toBe('payload\n');
    expect(call('fileexists("data.txt")', { baseDir: dir })).toBe(true);
    expect(call('fileexists("missing.txt")', { baseDir: dir })).toBe(false);
    expect(call('abspath("data.txt")', { baseDir: dir })).toBe(join(dir, 'data.txt'));
    expect(fails('file("data.txt")', { baseDir: dir, allowFS: false })).toContain('filesystem function disabled');
  });
});
