import { describe, expect, it } from 'vitest';
import type { Attribute, Block, Body } from './ast.js';
import { expandDynamic, withBlockVars } from './dynamic.js';
import { evaluate } from './evaluator.js';
import { makeEvalContext } from './index.js';
import { parseHCL } from './parser.js';
import { list, num, object, str, toJS } from './values.js';

const ctx = makeEvalContext({
  variables: { var: object({ ports: list([str('http'), str('db')]), nums: list([num(1), num(2)]) }) },
  unknownRootsVerbatim: true,
});

function expand(src: string): { body: Body; errors: string[] } {
  const p = parseHCL(src, 'd.hcl');
  expect(p.diagnostics).toEqual([]);
  const r = expandDynamic(p.body, ctx);
  return { body: r.body, errors: r.diagnostics.map((d) => `${d.summary}: ${d.detail}`) };
}

function attrValue(block: Block, name: string): unknown {
  const a = block.body.items.find((i): i is Attribute => i.kind === 'attribute' && i.name === name)!;
  const r = evaluate(a.expr, withBlockVars(ctx, block));
  expect(r.diagnostics).toEqual([]);
  return toJS(r.value);
}

describe('expandDynamic', () => {
  it('replaces a dynamic block in place by one block per element, with labels and the iterator in scope', () => {
    const { body, errors } = expand(`
network {
  before {}
  dynamic "port" {
    for_each = var.ports
    labels   = [port.value]
    content {
      index = port.key
      name  = "\${port.value}-\${node.unique.name}"
    }
  }
  after {}
}
`);
    expect(errors).toEqual([]);
    const net = body.items[0] as Block;
    expect(net.body.items.map((i) => (i as Block).type + ':' + (i as Block).labels.join(','))).toEqual([
      'before:',
      'port:http',
      'port:db',
      'after:',
    ]);
    const [, http, db] = net.body.items as Block[];
    expect(attrValue(http!, 'index')).toBe(0);
    expect(attrValue(db!, 'name')).toBe('db-${node.unique.name}');
  });

  it('expands nested dynamic blocks with the outer iterator, and passes it to nested plain blocks', () => {
    const { body, errors } = expand(`
dynamic "group" {
  for_each = var.ports
  iterator = g
  labels   = [g.value]
  content {
    dynamic "task" {
      for_each = var.nums
      labels   = ["\${g.value}-\${task.value}"]
      content {
        config { who = "\${g.value}/\${task.key}" }
      }
    }
  }
}
`);
    expect(errors).toEqual([]);
    const groups = body.items as Block[];
    expect(groups.map((g) => g.labels[0])).toEqual(['http', 'db']);
    const tasks = groups[1]!.body.items as Block[];
    expect(tasks.map((t) => t.labels[0])).toEqual(['db-1', 'db-2']);
    const config = tasks[1]!.body.items[0] as Block;
    expect(attrValue(config, 'who')).toBe('db/1');
  });

  it('reports a missing for_each, a missing content block and a non-iterable value', () => {
    expect(expand('dynamic "x" {\n  content {}\n}\n').errors[0]).toContain('"for_each" is required');
    expect(expand('dynamic "x" {\n  for_each = [1]\n}\n').errors[0]).toContain('Missing content block');
    expect(expand('dynamic "x" {\n  for_each = 5\n  content {}\n}\n').errors[0]).toContain(
      'Cannot use a number value in for_each',
    );
  });

  it('leaves a body without dynamic blocks unchanged in shape', () => {
    const { body } = expand('a = 1\nb {\n  c = 2\n}\n');
    expect(body.items.map((i) => i.kind)).toEqual(['attribute', 'block']);
    expect((body.items[1] as Block).ctxExtras).toBeUndefined();
  });
});
