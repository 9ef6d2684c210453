import { describe, expect, it } from 'vitest';
import type { Attribute } from './ast.js';
import { convert, parseTypeExpr } from './convert.js';
import { evaluate, type EvalContext } from './evaluator.js';
import { makeEvalContext } from './index.js';
import { parseHCL } from './parser.js';
import { T, type Value, list, map, num, object, str, toJS, tuple, typeName, typeOf } from './values.js';

function ctx(vars: Record<string, Value> = {}, verbatim = false): EvalContext {
  return makeEvalContext({ variables: vars, unknownRootsVerbatim: verbatim, functions: { allowFS: false } });
}

function exprOf(src: string) {
  const r = parseHCL(`x = ${src}\n`, 'e.hcl');
  expect(r.diagnostics).toEqual([]);
  return (r.body.items[0] as Attribute).expr;
}

function ev(src: string, c: EvalContext = ctx()): Value {
  const r = evaluate(exprOf(src), c);
  expect(r.diagnostics.map((d) => `${d.summary}: ${d.detail}`)).toEqual([]);
  return r.value;
}

function evErr(src: string, c: EvalContext = ctx()): string[] {
  return evaluate(exprOf(src), c).diagnostics.map((d) => `${d.summary}: ${d.detail}`);
}

const js = (src: string, c?: EvalContext): unknown => toJS(ev(src, c));

const vars = {
  var: object({
    name: str('web'),
    count: num(3),
    list: list([str('a'), str('b')]),
    m: map({ x: num(1), y: num(2) }),
    objs: tuple([object({ id: str('one') }), object({ id: str('two') })]),
  }),
  local: object({ on: { kind: 'bool', value: true } }),
};

describe('evaluate: values and types', () => {
  it('keeps number and string literals apart', () => {
    expect(ev('5')).toEqual(num(5));
    expect(ev('"5"')).toEqual(str('5'));
    expect(typeName(typeOf(ev('[1, "a"]')))).toBe('tuple([number, string])');
    expect(typeName(typeOf(ev('{a = 1}')))).toBe('object({a=number})');
  });

  it('converts operands as HCL does for arithmetic and comparison', () => {
    expect(js('"2" + 3')).toBe(5);
    expect(js('10 / 4')).toBe(2.5);
    expect(js('7 % 3')).toBe(1);
    expect(js('-(2 * 3)')).toBe(-6);
    expect(js('"10" > 9')).toBe(true);
    expect(js('!false && true || false')).toBe(true);
  });

  it('compares with == by type and value', () => {
    expect(js('1 == 1.0')).toBe(true);
    expect(js('"1" == 1')).toBe(false);
    expect(js('[1, "a"] == [1, "a"]')).toBe(true);
    expect(js('{a = 1} != {a = 2}')).toBe(true);
    expect(js('null == null')).toBe(true);
  });

  it('unifies conditional results to a common type', () => {
    expect(ev('true ? 1 : "x"')).toEqual(str('1'));
    expect(ev('false ? 1 : 2')).toEqual(num(2));
  });

  it('reports operand errors with the operand range', () => {
    const r = evaluate(exprOf('1 + "abc"'), ctx());
    expect(r.diagnostics[0]?.summary).toBe('Invalid operand');
    expect(r.diagnostics[0]?.range!.start.column).toBe(9);
    expect(evErr('1 / 0')).toEqual(['Invalid operand: Division by zero.']);
  });
});

describe('evaluate: references', () => {
  it('reads variables through attributes, indexes and splats', () => {
    const c = ctx(vars);
    expect(js('var.name', c)).toBe('web');
    expect(js('var.list[1]', c)).toBe('b');
    expect(js('var.list.0', c)).toBe('a');
    expect(js('var.m["y"]', c)).toBe(2);
    expect(js('var.m.x', c)).toBe(1);
    expect(js('var.objs[*].id', c)).toEqual(['one', 'two']);
    expect(js('var.objs.*.id', c)).toEqual(['one', 'two']);
    expect(js('var.list[var.count - 2]', c)).toBe('b');
  });

  it('reports unknown variables and missing attributes', () => {
    const c = ctx(vars);
    expect(evErr('nope.x', c)).toEqual(['Unknown variable: There is no variable named "nope".']);
    expect(evErr('local.undefined_local', c)).toEqual([
      'Unsupported attribute: This object does not have an attribute named "undefined_local".',
    ]);
    expect(evErr('var.list[5]', c)[0]).toContain('Invalid index');
  });

  it('keeps unknown roots verbatim in templates, including the original spacing', () => {
    const c = ctx(vars, true);
    expect(js('"foo-${attr.network.dev-us-east1-relay-vpc.external-ip.0}"', c)).toBe(
      'foo-${attr.network.dev-us-east1-relay-vpc.external-ip.0}',
    );
    expect(js('"${env["BLAH"]}"', c)).toBe('${env["BLAH"]}');
    expect(js('"${mixed-indexing.0[3]["FOO"].5}"', c)).toBe('${mixed-indexing.0[3]["FOO"].5}');
    expect(js('"with spaces ${   root.  field[  "FOO"].5  }"', c)).toBe('with spaces ${   root.  field[  "FOO"].5  }');
    expect(js('"${NOMAD_PORT_http} and ${var.name}"', c)).toBe('${NOMAD_PORT_http} and web');
    expect(js('"${upper(node.unique.name)}"', c)).toBe('${upper(node.unique.name)}');
  });

  it('turns a bare unknown-root expression into its ${...} text', () => {
    const c = ctx(vars, true);
    expect(js('meta.mytest', c)).toBe('${meta.mytest}');
    expect(js('[node.unique.id, var.name]', c)).toEqual(['${node.unique.id}', 'web']);
  });

  it('still reports missing attributes of known roots when verbatim mode is on', () => {
    expect(evErr('"${local.undefined_local}"', ctx(vars, true))[0]).toContain(
      'does not have an attribute named "undefined_local"',
    );
  });
});

describe('evaluate: templates and for expressions', () => {
  it('renders interpolations, directives and heredocs', () => {
    const c = ctx(vars);
    expect(js('"${var.name}-${var.count}"', c)).toBe('web-3');
    expect(js('"%{ if local.on }on%{ else }off%{ endif }"', c)).toBe('on');
    expect(js('"%{ for i, v in var.list }${i}=${v};%{ endfor }"', c)).toBe('0=a;1=b;');
    expect(js('"a ${~ var.name ~} b"', c)).toBe('awebb');
  });

  it('renders an indented heredoc', () => {
    const r = parseHCL('x = <<-EOT\n    name: ${var.name}\n      nested: true\n    EOT\n', 'h.hcl');
    const v = evaluate((r.body.items[0] as Attribute).expr, ctx(vars));
    expect(toJS(v.value)).toBe('name: web\n  nested: true\n');
  });

  it('refuses null and collections inside a string template', () => {
    expect(evErr('"a${null}"')[0]).toContain('Invalid template interpolation value');
    expect(evErr('"a${[1]}"')[0]).toContain('string required');
  });

  it('builds tuples and objects with for expressions, filters and grouping', () => {
    const c = ctx(vars);
    expect(js('[for s in var.list : upper(s)]', c)).toEqual(['A', 'B']);
    expect(js('[for i, s in var.list : "${i}${s}" if s != "a"]', c)).toEqual(['1b']);
    expect(js('{for k, v in var.m : k => v * 10}', c)).toEqual({ x: 10, y: 20 });
    expect(js('{for s in ["a", "b", "a"] : s => s...}', c)).toEqual({ a: ['a', 'a'], b: ['b'] });
    expect(evErr('{for s in ["a", "a"] : s => s}', c)[0]).toContain('Duplicate object key');
  });

  it('evaluates object keys given as expressions', () => {
    expect(js('{ (var.name) = 1, "k-${var.count}" = 2, bare = 3 }', ctx(vars))).toEqual({ web: 1, 'k-3': 2, bare: 3 });
  });
});

describe('convert and type expressions', () => {
  const typeOfSrc = (src: string) => parseTypeExpr(exprOf(src));

  it('parses type expressions', () => {
    expect(typeName(typeOfSrc('string').type)).toBe('string');
    expect(typeName(typeOfSrc('list(number)').type)).toBe('list(number)');
    expect(typeName(typeOfSrc('map(object({a = string, b = list(bool)}))').type)).toBe(
      'map(object({a=string, b=list(bool)}))',
    );
    expect(typeName(typeOfSrc('tuple([string, number])').type)).toBe('tuple([string, number])');
    expect(typeName(typeOfSrc('any').type)).toBe('any');
    expect(typeOfSrc('object({a = optional(string)})').type).toMatchObject({ kind: 'object', optional: ['a'] });
    expect(typeOfSrc('strin').diagnostics[0]?.summary).toBe('Invalid type specification');
  });

  it('converts primitives both ways where HCL allows', () => {
    expect(convert(num(5), T.string)).toEqual({ ok: true, value: str('5') });
    expect(convert(num(1.5), T.string)).toEqual({ ok: true, value: str('1.5') });
    expect(convert(str('42'), T.number)).toEqual({ ok: true, value: num(42) });
    expect(convert(str('true'), T.bool)).toMatchObject({ ok: true, value: { kind: 'bool', value: true } });
    expect(convert(str('abc'), T.number).ok).toBe(false);
    expect(convert({ kind: 'bool', value: true }, T.number).ok).toBe(false);
  });

  it('converts tuples to lists and sets and objects to maps', () => {
    const l = convert(tuple([num(1), str('2')]), T.list(T.string));
    expect(l.ok && typeName(typeOf(l.value))).toBe('list(string)');
    const s = convert(tuple([str('a'), str('a'), str('b')]), T.set(T.string));
    expect(s.ok && toJS(s.value)).toEqual(['a', 'b']);
    const m = convert(object({ a: str('x') }), T.map(T.string));
    expect(m.ok && typeName(typeOf(m.value))).toBe('map(string)');
    expect(convert(tuple([str('a')]), T.map(T.string))).toEqual({ ok: false, error: 'map of string required' });
  });

  it('unifies element types for list(any) and fails on mixed structures', () => {
    const l = convert(tuple([num(1), str('a')]), T.list(T.dynamic));
    expect(l.ok && typeName(typeOf(l.value))).toBe('list(string)');
    expect(convert(tuple([num(1), tuple([])]), T.list(T.dynamic)).ok).toBe(false);
  });

  it('fills optional object attributes with null and requires the others', () => {
    const t = T.object({ a: T.string, b: T.number }, ['b']);
    const ok = convert(object({ a: str('x'), extra: num(1) }), t);
    expect(ok.ok && toJS(ok.value)).toEqual({ a: 'x', b: null });
    expect(convert(object({ b: num(1) }), t)).toEqual({ ok: false, error: 'attribute "a" is required' });
  });
});
