/**
 * `dynamic` block expansion:
 *
 *   dynamic "port" {                      port "http" {   # ctxExtras: { port: {key: 0, value: "http"} }
 *     for_each = ["http", "db"]              to = 8080
 *     labels   = [port.value]      ==>     }
 *     content { to = 8080 }                port "db" { ... }   # ctxExtras: { port: {key: 1, value: "db"} }
 *   }
 *
 * Generated blocks are ordinary `Block`s in the dynamic block's place (order kept). Their content is not
 * evaluated here, because the decoder evaluates lazily: each generated block, and every block nested in
 * it, carries `ctxExtras` with the iterator variables, and `withBlockVars(ctx, block)` gives the scope to
 * evaluate its attributes in. Nested `dynamic` blocks are expanded with the outer iterator in scope.
 */
import type { Attribute, Block, Body, Diagnostic, Expression } from './ast.js';
import { childContext, evaluate, type EvalContext } from './evaluator.js';
import { type Value, elements, friendlyTypeName, object, typeOf } from './values.js';

/** The scope for evaluating a block's attributes: `ctx` plus the block's dynamic iterator, if any. */
export function withBlockVars(ctx: EvalContext, block: Block): EvalContext {
  return block.ctxExtras && Object.keys(block.ctxExtras).length > 0 ? childContext(ctx, block.ctxExtras) : ctx;
}

/** Replaces every `dynamic` block in `body` (at any depth) by the blocks it generates. */
export function expandDynamic(body: Body, ctx: EvalContext): { body: Body; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  return { body: expandBody(body, ctx, undefined, diagnostics, 0), diagnostics };
}

const MAX_DYNAMIC_BLOCKS = 10_000;

function expandBody(
  body: Body,
  ctx: EvalContext,
  extras: Record<string, Value> | undefined,
  diags: Diagnostic[],
  depth: number,
): Body {
  const items: Array<Attribute | Block> = [];
  for (const item of body.items) {
    if (item.kind === 'attribute') {
      items.push(item);
    } else if (item.type === 'dynamic') {
      items.push(...expandOne(item, ctx, extras, diags, depth));
    } else {
      const b: Block = { ...item, body: expandBody(item.body, ctx, extras, diags, depth + 1) };
      if (extras) b.ctxExtras = extras;
      items.push(b);
    }
  }
  return { items, range: body.range };
}

function expandOne(
  dyn: Block,
  ctx: EvalContext,
  extras: Record<string, Value> | undefined,
  diags: Diagnostic[],
  depth: number,
): Block[] {
  const err = (summary: string, detail: string, range = dyn.range): Block[] => {
    diags.push({ severity: 'error', summary, detail, range });
    return [];
  };
  if (dyn.labels.length !== 1)
    return err(
      'Invalid dynamic block',
      'A dynamic block needs exactly one label: the type of the blocks to generate.',
      dyn.typeRange,
    );
  const blockType = dyn.labels[0]!;
  let forEach: Attribute | undefined;
  let iterator: Attribute | undefined;
  let labels: Attribute | undefined;
  const contents: Block[] = [];
  for (const it of dyn.body.items) {
    if (it.kind === 'block') {
      if (it.type === 'content') contents.push(it);
      else
        diags.push({
          severity: 'error',
          summary: 'Unsupported block type',
          detail: `Blocks of type "${it.type}" are not expected here; a dynamic block takes one "content" block.`,
          range: it.typeRange,
        });
    } else if (it.name === 'for_each') forEach = it;
    else if (it.name === 'iterator') iterator = it;
    else if (it.name === 'labels') labels = it;
    else
      diags.push({
        severity: 'error',
        summary: 'Unsupported argument',
        detail: `An argument named "${it.name}" is not expected here.`,
        range: it.nameRange,
      });
  }
  if (!forEach) return err('Missing required argument', 'The argument "for_each" is required in a dynamic block.');
  if (contents.length !== 1)
    return err(
      contents.length ? 'Duplicate content block' : 'Missing content block',
      'A dynamic block needs exactly one "content" block.',
    );
  let iterName = blockType;
  if (iterator) {
    const e = iterator.expr;
    if (e.type !== 'scopeTraversal' || e.traversal.length > 0)
      return err(
        'Invalid dynamic iterator name',
        'The iterator must be a single bare name, like iterator = port.',
        e.range,
      );
    iterName = e.root;
  }
  const scope = extras ? childContext(ctx, extras) : ctx;
  const fe = evaluate(forEach.expr, scope);
  diags.push(...fe.diagnostics);
  if (fe.diagnostics.some((d) => d.severity === 'error')) return [];
  const v = fe.value;
  if (v.kind === 'unknown')
    return err(
      'Invalid dynamic for_each value',
      'The for_each value must be known when the job file is read.',
      forEach.expr.range,
    );
  if (v.kind === 'null')
    return err('Invalid dynamic for_each value', 'Cannot use a null value in for_each.', forEach.expr.range);
  const els = elements(v);
  if (!els)
    return err(
      'Invalid dynamic for_each value',
      `Cannot use a ${friendlyTypeName(typeOf(v))} value in for_each. An iterable collection is required.`,
      forEach.expr.range,
    );
  if (els.length > MAX_DYNAMIC_BLOCKS)
    return err(
      'Invalid dynamic for_each value',
      `A dynamic block may generate at most ${MAX_DYNAMIC_BLOCKS} blocks.`,
      forEach.expr.range,
    );
  const content = contents[0]!;
  const out: Block[] = [];
  for (const [key, value] of els) {
    const blockExtras = { ...(extras ?? {}), [iterName]: object({ key, value }) };
    const inner = childContext(ctx, blockExtras);
    const lbls = labels ? evalLabels(labels.expr, inner, diags) : [];
    if (lbls === null) continue;
    out.push({
      kind: 'block',
      type: blockType,
      labels: lbls,
      typeRange: dyn.labelRanges[0] ?? dyn.typeRange,
      labelRanges: lbls.map(() => labels!.expr.range),
      body: expandBody(content.body, ctx, blockExtras, diags, depth + 1),
      range: dyn.range,
      ctxExtras: blockExtras,
    });
  }
  return out;
}

function evalLabels(e: Expression, ctx: EvalContext, diags: Diagnostic[]): string[] | null {
  const r = evaluate(e, ctx);
  diags.push(...r.diagnostics);
  const v = r.value;
  if (v.kind !== 'list' && v.kind !== 'tuple') {
    diags.push({
      severity: 'error',
      summary: 'Invalid dynamic block labels',
      detail: 'The labels argument must be a list of strings.',
      range: e.range,
    });
    return null;
  }
  const out: string[] = [];
  for (const x of v.items) {
    if (x.kind === 'string') out.push(x.value);
    else if (x.kind === 'number') out.push(String(x.value));
    else {
      diags.push({
        severity: 'error',
        summary: 'Invalid dynamic block label',
        detail: `Block labels must be strings, not ${friendlyTypeName(typeOf(x))}.`,
        range: e.range,
      });
      return null;
    }
  }
  return out;
}
