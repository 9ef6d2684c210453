import { describe, expect, it } from 'vitest';
import type { Attribute, Block, Body, Expression } from './ast.js';
import { parseHCL } from './parser.js';

function parseOK(src: string): Body {
  const r = parseHCL(src, 't.hcl');
  expect(r.diagnostics).toEqual([]);
  return r.body;
}

function attr(body: Body, name: string): Attribute {
  const a = body.items.find((i): i is Attribute => i.kind === 'attribute' && i.name === name);
  if (!a) throw new Error(`no attribute ${name}`);
  return a;
}

function expr(src: string): Expression {
  return attr(parseOK(`x = ${src}\n`), 'x').expr;
}

/** A compact rendering of an expression tree, for readable assertions. */
function show(e: Expression): string {
  switch (e.type) {
    case 'literal':
      return JSON.stringify(e.value);
    case 'template':
      return `tpl(${e.parts.map((p) => (p.type === 'text' ? JSON.stringify(p.value) : p.type === 'interp' ? `\${${show(p.expr)}}` : p.type)).join(',')})`;
    case 'templateWrap':
      return `wrap(${show(e.wrapped)})`;
    case 'heredoc':
      return `heredoc(${show(e.template)})`;
    case 'scopeTraversal':
      return (
        e.root +
        e.traversal
          .map((t) => (t.type === 'attr' ? `.${t.name}` : t.type === 'index' ? `[${JSON.stringify(t.key)}]` : '[*]'))
          .join('')
      );
    case 'relativeTraversal':
      return (
        `(${show(e.source)})` +
        e.traversal
          .map((t) => (t.type === 'attr' ? `.${t.name}` : t.type === 'index' ? `[${JSON.stringify(t.key)}]` : ''))
          .join('')
      );
    case 'functionCall':
      return `${e.name}(${e.args.map(show).join(',')}${e.expandFinal ? '...' : ''})`;
    case 'conditional':
      return `(${show(e.cond)} ? ${show(e.then)} : ${show(e.else)})`;
    case 'binaryOp':
      return `(${show(e.left)} ${e.op} ${show(e.right)})`;
    case 'unaryOp':
      return `${e.op}${show(e.operand)}`;
    case 'tuple':
      return `[${e.items.map(show).join(',')}]`;
    case 'object':
      return `{${e.items.map((i) => `${i.keyIsBareIdent ? 'bare:' : ''}${show(i.key)}=${show(i.value)}`).join(',')}}`;
    case 'index':
      return `${show(e.collection)}[${show(e.key)}]`;
    case 'splat':
      return `splat${e.full ? '[*]' : '.*'}(${show(e.source)})${e.each.map((t) => (t.type === 'attr' ? `.${t.name}` : t.type === 'index' ? `[${JSON.stringify(t.key)}]` : '')).join('')}`;
    case 'for':
      return `for(${e.keyVar ?? ''},${e.valueVar} in ${show(e.collection)}: ${e.keyExpr ? show(e.keyExpr) + ' => ' : ''}${show(e.valueExpr)}${e.group ? '...' : ''}${e.condExpr ? ' if ' + show(e.condExpr) : ''})`;
    case 'parens':
      return `(${show(e.inner)})`;
  }
}

describe('parseHCL bodies', () => {
  it('keeps attributes and blocks in source order with their labels', () => {
    const body = parseOK(`
a = 1
block "one" two {
  inner = true
}
b = 2
other {}
`);
    expect(
      body.items.map((i) => (i.kind === 'attribute' ? `attr:${i.name}` : `block:${i.type}:${i.labels.join('/')}`)),
    ).toEqual(['attr:a', 'block:block:one/two', 'attr:b', 'block:other:']);
  });

  it('reads one-line blocks with an attribute', () => {
    const body = parseOK('config { image = "redis" }\nnext {}\n');
    const b = body.items[0] as Block;
    expect(b.body.items.length).toBe(1);
    expect(show(attr(b.body, 'image').expr)).toBe('tpl("redis")');
  });

  it('skips all three comment styles', () => {
    const body = parseOK('# hash\n// slashes\n/* block\n comment */ a = 1 # trailing\nb = 2 // trailing\n');
    expect(body.items.map((i) => (i as Attribute).name)).toEqual(['a', 'b']);
  });

  it('accepts identifiers with dashes', () => {
    expect(show(expr('attr.dev-us-east1.external-ip'))).toBe('attr.dev-us-east1.external-ip');
  });

  it('records 1-based line and column positions', () => {
    const body = parseOK('job "web" {\n  group "api" {\n    count = 3\n  }\n}\n');
    const job = body.items[0] as Block;
    expect(job.typeRange.start).toEqual({ line: 1, column: 1, offset: 0 });
    expect(job.labelRanges[0]?.start).toMatchObject({ line: 1, column: 5 });
    const group = job.body.items[0] as Block;
    expect(group.range.start).toMatchObject({ line: 2, column: 3 });
    expect(group.range.end).toMatchObject({ line: 4, column: 4 });
    const count = attr(group.body, 'count');
    expect(count.nameRange.start).toMatchObject({ line: 3, column: 5 });
    expect(count.expr.range.start).toMatchObject({ line: 3, column: 13 });
    expect(count.expr.range.end).toMatchObject({ line: 3, column: 14 });
  });
});

describe('parseHCL expressions', () => {
  it('applies HCL operator precedence', () => {
    expect(show(expr('1 + 2 * 3 - 4 / 2 % 3'))).toBe('((1 + (2 * 3)) - ((4 / 2) % 3))');
    expect(show(expr('a || b && c == d'))).toBe('(a || (b && (c == d)))');
    expect(show(expr('a < b == c >= d'))).toBe('((a < b) == (c >= d))');
    expect(show(expr('!a && -b > 2'))).toBe('(!a && (-b > 2))');
    expect(show(expr('a ? b : c ? d : e'))).toBe('(a ? b : (c ? d : e))');
    expect(show(expr('(1 + 2) * 3'))).toBe('(((1 + 2)) * 3)');
  });

  it('reads numbers, booleans and null', () => {
    expect(show(expr('[1, 2.5, 1e3, 1.5E-2, true, false, null]'))).toBe('[1,2.5,1000,0.015,true,false,null]');
  });

  it('reads traversals with attributes, indexes and legacy dotted indexes', () => {
    expect(show(expr('var.list[0].name["k"]'))).toBe('var.list[0].name["k"]');
    expect(show(expr('foo.0.bar'))).toBe('foo[0].bar');
    expect(show(expr('foo.0.1'))).toBe('foo[0][1]');
    expect(show(expr('var.m[var.k]'))).toBe('var.m[var.k]');
    expect(show(expr('f(x).y[0]'))).toBe('(f(x)).y[0]');
  });

  it('reads attribute and full splats', () => {
    expect(show(expr('var.list.*.id'))).toBe('splat.*(var.list).id');
    expect(show(expr('var.list[*].a.b[0]'))).toBe('splat[*](var.list).a.b[0]');
  });

  it('reads tuples and objects with either separator and key form', () => {
    expect(show(expr('[1, "a",\n  b,\n]'))).toBe('[1,tpl("a"),b]');
    expect(show(expr('{ a = 1, "b": 2\n  (c) = 3\n  "${d}" = 4 }'))).toBe('{bare:"a"=1,tpl("b")=2,(c)=3,wrap(d)=4}');
  });

  it('reads for expressions for tuples and objects with conditions and grouping', () => {
    expect(show(expr('[for s in var.l : upper(s) if s != ""]'))).toBe('for(,s in var.l: upper(s) if (s != tpl()))');
    expect(show(expr('{for k, v in var.m : v => k...}'))).toBe('for(k,v in var.m: v => k...)');
    expect(show(expr('{\n  for k, v in var.m :\n  k => v\n}'))).toBe('for(k,v in var.m: k => v)');
  });

  it('reads function calls with expansion of the final argument', () => {
    expect(show(expr('max(1, 2, 3)'))).toBe('max(1,2,3)');
    expect(show(expr('max(var.nums...)'))).toBe('max(var.nums...)');
    expect(show(expr('f(\n  1,\n  2,\n)'))).toBe('f(1,2)');
  });

  it('lets newlines continue an expression inside brackets but not outside', () => {
    const body = parseOK('a = [\n  1 +\n  2\n]\nb = 3\n');
    expect(show(attr(body, 'a').expr)).toBe('[(1 + 2)]');
  });
});

describe('parseHCL templates', () => {
  it('decodes string escapes', () => {
    const e = expr(String.raw`"a\nb\tc\"d\\e\u00e9\U0001F600"`);
    expect(show(e)).toBe(`tpl(${JSON.stringify('a\nb\tc"d\\e\u00e9\u{1F600}')})`);
  });

  it('keeps $${ and %%{ as literal sequences', () => {
    expect(show(expr('"$${NOMAD_PORT} %%{x} $5 100%"'))).toBe('tpl("${NOMAD_PORT} %{x} $5 100%")');
  });

  it('turns a lone interpolation into a template wrap', () => {
    expect(show(expr('"${var.x}"'))).toBe('wrap(var.x)');
    expect(show(expr('"a-${var.x}"'))).toBe('tpl("a-",${var.x})');
  });

  it('reads if and for directives', () => {
    const e = expr('"%{ if var.on }yes%{ else }no%{ endif }|%{ for k, v in var.m }${k}%{ endfor }"');
    if (e.type !== 'template') throw new Error('not a template');
    const [ifPart, sep, forPart] = e.parts;
    expect(ifPart?.type).toBe('if');
    if (ifPart?.type !== 'if') return;
    expect(ifPart.then).toMatchObject([{ type: 'text', value: 'yes' }]);
    expect(ifPart.else).toMatchObject([{ type: 'text', value: 'no' }]);
    expect(sep).toMatchObject({ type: 'text', value: '|' });
    expect(forPart).toMatchObject({ type: 'for', keyVar: 'k', valueVar: 'v' });
  });

  it('applies strip markers to the neighbouring text', () => {
    const e = expr('"a   ${~ x ~}   b  %{~ if true ~}  c  %{~ endif ~}  d"');
    if (e.type !== 'template') throw new Error('not a template');
    expect(e.parts[0]).toMatchObject({ type: 'text', value: 'a' });
    expect(e.parts[1]).toMatchObject({ type: 'interp', stripLeft: true, stripRight: true });
    expect(e.parts[2]).toMatchObject({ type: 'text', value: 'b' });
    expect(e.parts[3]).toMatchObject({ type: 'if', then: [{ type: 'text', value: 'c' }] });
    expect(e.parts[4]).toMatchObject({ type: 'text', value: 'd' });
  });

  it('reads heredocs with interpolation, keeping the final newline', () => {
    const body = parseOK('t = <<EOT\nhello ${name}\n  indented\nEOT\nnext = 1\n');
    expect(show(attr(body, 't').expr)).toBe('heredoc(tpl("hello ",${name},"\\n  indented\\n"))');
    expect(show(attr(body, 'next').expr)).toBe('1');
  });

  it('strips the common indentation of <<- heredocs, ignoring blank lines', () => {
    const body = parseOK('t = <<-EOT\n    line one\n\n      deeper ${x}\n    last\n    EOT\n');
    expect(show(attr(body, 't').expr)).toBe('heredoc(tpl("line one\\n\\n  deeper ",${x},"\\nlast\\n"))');
  });

  it('keeps the raw source of interpolations for verbatim rendering', () => {
    const e = expr('"with spaces ${   root.  field[  "FOO"].5  }"');
    if (e.type !== 'template') throw new Error('not a template');
    expect(e.parts[1]).toMatchObject({ type: 'interp', raw: '${   root.  field[  "FOO"].5  }' });
  });
});

describe('parseHCL diagnostics', () => {
  it('reports several independent problems in one run with their positions', () => {
    const src = [
      'job "x" {', // 1
      '  a = = 1', // 2
      '  b = 2', // 3
      '  c = [1 2]', // 4
      '  d = "unterminated', // 5
      '  e = 3 4', // 6
      '  f = 5', // 7
      '}', // 8
      '',
    ].join('\n');
    const r = parseHCL(src, 'bad.hcl');
    const where = r.diagnostics.map((d) => `${d.range!.start.line}:${d.range!.start.column} ${d.summary}`);
    expect(where).toEqual([
      '2:7 Invalid expression',
      '4:10 Missing item separator',
      '5:7 Unterminated template string',
      '6:9 Missing newline after argument',
    ]);
    const job = r.body.items[0] as Block;
    expect(job.body.items.map((i) => (i as Attribute).name)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(r.diagnostics[0]?.range!.filename).toBe('bad.hcl');
  });

  it('reports an unclosed block at its opening brace', () => {
    const r = parseHCL('job "x" {\n  group "g" {\n    count = 1\n}\n', 'u.hcl');
    expect(r.diagnostics.map((d) => `${d.range!.start.line}:${d.range!.start.column} ${d.summary}`)).toEqual([
      '1:9 Unclosed configuration block',
    ]);
  });

  it('reports a block definition that is neither label nor brace', () => {
    const r = parseHCL('env {\n  for k in ["a"]: k => k\n}\n', 'e.hcl');
    expect(r.diagnostics.map((d) => `${d.range!.start.line}:${d.range!.start.column} ${d.summary}`)).toEqual([
      '2:12 Invalid block definition',
    ]);
  });

  it('reports a redefined attribute with where it was first set', () => {
    const r = parseHCL('a = 1\na = 2\n', 'r.hcl');
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({
      summary: 'Attribute redefined',
      range: { start: { line: 2, column: 1 } },
    });
    expect(r.diagnostics[0]?.detail).toContain('r.hcl:1,1');
  });

  it('reports unterminated heredocs and bad escapes', () => {
    const r = parseHCL('a = "bad \\q escape"\nb = <<EOT\nno end\n', 'h.hcl');
    expect(r.diagnostics.map((d) => `${d.range!.start.line}:${d.range!.start.column} ${d.summary}`)).toEqual([
      '1:10 Invalid escape sequence',
      '2:5 Unterminated template string',
    ]);
  });

  it('reports unmatched template directives', () => {
    const r = parseHCL('a = "%{ if x }open"\nb = "%{ endfor }"\n', 'd.hcl');
    expect(r.diagnostics.map((d) => d.summary)).toEqual([
      'Unterminated template directive',
      'Unexpected "endfor" directive',
    ]);
  });

  it('caps nesting depth with one diagnostic instead of overflowing the stack', () => {
    const deep = 'a = ' + '['.repeat(50_000) + ']'.repeat(50_000) + '\n';
    const r = parseHCL(deep, 'deep.hcl');
    expect(r.diagnostics.map((d) => d.summary)).toEqual(['Nesting too deep']);
    const blocks = 'b {\n'.repeat(5000) + '}\n'.repeat(5000);
    expect(parseHCL(blocks, 'deep.hcl').diagnostics.map((d) => d.summary)).toEqual(['Nesting too deep']);
  });
});
