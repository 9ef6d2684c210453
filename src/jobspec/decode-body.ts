/**
 * The generic half of the decoder: walks a block's body against its table in schema.ts, evaluates
 * attributes to plain values, converts them to the field's type and records every problem with its
 * file:line:column and block path. Nothing here throws on bad input; problems are collected so a
 * user sees all of them in one run.
 */
import type { Problem } from '../errors/index.js';
import type { Attribute, Block, Body, Diagnostic, Expression, Range } from './hcl/index.js';
import { readGoDuration } from '../lib/duration.js';
import { parseSizeMB } from './duration.js';
import { SCHEMA, type AttrType, type BlockSpec } from './schema.js';

export type Obj = Record<string, any>;

/** Evaluates an expression to a plain JSON-like value (string, number, boolean, null, array, object). */
export type PlainEval = (expr: Expression, block: Block | null) => { value: unknown; diagnostics: Diagnostic[] };

export interface DecodeCtx {
  evaluate: PlainEval;
  problems: Problem[];
  warnings: string[];
  /** Custom handlers by name (schema `custom`), installed by decode-job.ts. */
  custom: Record<string, CustomHandler>;
}

/** Runs after generic decoding of a block (or instead of it for bodies with no table, like `config`). */
export type CustomHandler = (out: Obj, block: Block, ctx: DecodeCtx, path: string) => void;

export function blockPath(parent: string, b: Block): string {
  const label = b.labels.map((l) => ` ${JSON.stringify(l)}`).join('');
  const me = `${b.type}${label}`;
  return parent ? `${parent} > ${me}` : me;
}

export function problemAt(ctx: DecodeCtx, range: Range | undefined, message: string, block: string): void {
  const p: Problem = { message, block: block || undefined };
  if (range) {
    p.file = range.filename;
    p.line = range.start.line;
    p.column = range.start.column;
  }
  ctx.problems.push(p);
}

export function addDiagnostics(ctx: DecodeCtx, diags: Diagnostic[], block: string): void {
  for (const d of diags) {
    const text = d.detail ? `${d.summary}: ${d.detail}` : d.summary;
    if (d.severity === 'warning') ctx.warnings.push(text);
    else problemAt(ctx, d.range, text, block);
  }
}

/** Evaluates an attribute, reporting evaluation errors; returns undefined when it failed. */
export function evalAttr(ctx: DecodeCtx, attr: Attribute, block: Block | null, path: string): unknown {
  const { value, diagnostics } = ctx.evaluate(attr.expr, block);
  addDiagnostics(ctx, diagnostics, path);
  if (diagnostics.some((d) => d.severity === 'error')) return undefined;
  return value;
}

const typeNames: Record<AttrType, string> = {
  string: 'string',
  int: 'number',
  number: 'number',
  bool: 'bool',
  duration: 'duration (a string such as "30s")',
  strings: 'list of string',
  ints: 'list of number',
  stringMap: 'map of string',
  stringListMap: 'map of list of string',
  any: 'value',
  size: 'size (such as "256MB")',
};

export type Converted = { ok: true; value: unknown } | { ok: false; error: string };

function toStr(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return undefined;
}

function toNum(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

/** Converts a plain value to an attribute type, the way HCL's type conversion would. */
export function convert(v: unknown, t: AttrType): Converted {
  const bad = (): Converted => ({ ok: false, error: `Unsuitable value: ${typeNames[t]} required` });
  if (v === null || v === undefined) return { ok: true, value: undefined };
  switch (t) {
    case 'any':
      return { ok: true, value: v };
    case 'string': {
      const s = toStr(v);
      return s === undefined ? bad() : { ok: true, value: s };
    }
    case 'number': {
      const n = toNum(v);
      return n === undefined ? bad() : { ok: true, value: n };
    }
    case 'int': {
      const n = toNum(v);
      if (n === undefined) return bad();
      if (!Number.isInteger(n)) return { ok: false, error: `Unsuitable value: a whole number required, got ${n}` };
      return { ok: true, value: n };
    }
    case 'bool':
      if (typeof v === 'boolean') return { ok: true, value: v };
      if (v === 'true' || v === 'false') return { ok: true, value: v === 'true' };
      return bad();
    case 'duration': {
      if (typeof v === 'number') return { ok: true, value: v };
      if (typeof v !== 'string') return bad();
      const d = readGoDuration(v.trim());
      return d.ok ? { ok: true, value: d.ns } : { ok: false, error: d.error };
    }
    case 'size': {
      if (typeof v === 'number') return { ok: true, value: v };
      if (typeof v !== 'string') return bad();
      const d = parseSizeMB(v);
      return typeof d === 'number' ? { ok: true, value: d } : { ok: false, error: d.error };
    }
    case 'strings':
    case 'ints': {
      if (!Array.isArray(v)) return bad();
      const out: unknown[] = [];
      for (const x of v) {
        const c = convert(x, t === 'strings' ? 'string' : 'int');
        if (!c.ok) return bad();
        out.push(c.value);
      }
      return { ok: true, value: out };
    }
    case 'stringMap': {
      if (typeof v !== 'object' || Array.isArray(v)) return bad();
      const out: Record<string, string> = {};
      for (const [k, x] of Object.entries(v as Obj)) {
        const s = toStr(x);
        if (s === undefined) return bad();
        out[k] = s;
      }
      return { ok: true, value: out };
    }
    case 'stringListMap': {
      if (typeof v !== 'object' || Array.isArray(v)) return bad();
      const out: Record<string, string[]> = {};
      for (const [k, x] of Object.entries(v as Obj)) {
        const c = convert(x, 'strings');
        if (!c.ok) return bad();
        out[k] = c.value as string[];
      }
      return { ok: true, value: out };
    }
  }
}

/** Where each decoded object came from, so struct-level problems can be given a file position. */
const origins = new WeakMap<object, { block: Block; spec: string; path: string }>();
export function originOf(o: object): { block: Block; spec: string; path: string } | undefined {
  return origins.get(o);
}

/** Decodes a block against the named spec; returns the struct object. */
export function decodeBlock(specName: string, block: Block, ctx: DecodeCtx, parentPath: string): Obj {
  const spec = SCHEMA[specName];
  if (!spec) throw new Error(`jobspec schema has no spec "${specName}"`);
  const path = blockPath(parentPath, block);
  const out: Obj = {};
  origins.set(out, { block, spec: specName, path });
  decodeBodyInto(spec, block.body, block, out, ctx, path);
  if (spec.custom) {
    const h = ctx.custom[spec.custom];
    if (!h) throw new Error(`jobspec decoder has no handler "${spec.custom}"`);
    h(out, block, ctx, path);
  }
  return out;
}

function labelError(ctx: DecodeCtx, b: Block, want: number, path: string): boolean {
  if (b.labels.length === want) return false;
  const what = want === 0 ? 'no labels' : want === 1 ? 'one label' : `${want} labels`;
  problemAt(
    ctx,
    b.labelRanges[0] ?? b.typeRange,
    `Extraneous or missing label: a ${b.type} block takes ${what}, got ${b.labels.length}`,
    path,
  );
  return true;
}

/** Handlers that read their body themselves: the generic walk must not call their contents unknown. */
const SELF_DECODING = new Set(['stringMap', 'freeform', 'loose', 'header']);

/** What one body has set so far: repeated attributes and singleton blocks are errors. */
interface Seen {
  attrs: Map<string, Attribute>;
  singles: Map<string, Block>;
}

export function decodeBodyInto(
  spec: BlockSpec,
  body: Body,
  self: Block | null,
  out: Obj,
  ctx: DecodeCtx,
  path: string,
): void {
  const seen: Seen = { attrs: new Map(), singles: new Map() };
  const selfDecoding = spec.custom !== undefined && SELF_DECODING.has(spec.custom);
  for (const item of body.items) {
    if (item.kind === 'attribute') {
      const as = spec.attrs[item.name];
      if (as) decodeAttr(as, item, self, out, ctx, path, seen);
      else if (!selfDecoding)
        problemAt(
          ctx,
          item.nameRange,
          `Unsupported argument: an argument named "${item.name}" is not expected here`,
          path,
        );
      continue;
    }
    const ref = spec.blocks[item.type];
    if (ref) {
      decodeSubBlock(ref, item, out, ctx, path, seen);
    } else if (!selfDecoding) {
      problemAt(
        ctx,
        item.typeRange,
        `Unsupported block type: blocks of type "${item.type}" are not expected here`,
        path,
      );
    }
  }
  for (const [name, as] of Object.entries(spec.attrs)) {
    if (as.required && !seen.attrs.has(name)) {
      problemAt(
        ctx,
        self?.typeRange,
        `Missing required argument: the argument "${name}" is required, but no definition was found`,
        path,
      );
    }
  }
}

function decodeAttr(
  as: BlockSpec['attrs'][string],
  item: Attribute,
  self: Block | null,
  out: Obj,
  ctx: DecodeCtx,
  path: string,
  seen: Seen,
): void {
  if (seen.attrs.has(item.name)) {
    problemAt(ctx, item.nameRange, `Attribute redefined: the argument "${item.name}" was already set`, path);
    return;
  }
  if (seen.singles.has(item.name)) {
    problemAt(ctx, item.nameRange, `Duplicate ${item.name} block: "${item.name}" was already set as a block`, path);
    return;
  }
  seen.attrs.set(item.name, item);
  const v = evalAttr(ctx, item, self, path);
  if (v === undefined) return;
  const c = convert(v, as.type);
  if (!c.ok) problemAt(ctx, item.expr.range, `Incorrect attribute value type for "${item.name}": ${c.error}`, path);
  else if (c.value !== undefined) out[as.field] = c.value;
}

function decodeSubBlock(
  ref: BlockSpec['blocks'][string],
  item: Block,
  out: Obj,
  ctx: DecodeCtx,
  path: string,
  seen: Seen,
): void {
  if (ref.mode === 'single') {
    if (labelError(ctx, item, 0, path)) return;
    const prev = seen.singles.get(item.type);
    if (prev) {
      problemAt(
        ctx,
        item.typeRange,
        `Duplicate ${item.type} block: only one "${item.type}" block is allowed here; the first was at line ${prev.typeRange.start.line}`,
        path,
      );
      return;
    }
    if (seen.attrs.has(item.type)) {
      problemAt(
        ctx,
        item.typeRange,
        `Duplicate ${item.type} block: "${item.type}" was already set as an argument`,
        path,
      );
      return;
    }
    seen.singles.set(item.type, item);
    out[ref.field] = decodeBlock(ref.spec, item, ctx, path);
    return;
  }
  // Task scaling blocks check their own labels, with Nomad's wording.
  if (ref.spec !== 'task_scaling' && labelError(ctx, item, ref.labels?.length ?? 0, path)) return;
  const o = decodeBlock(ref.spec, item, ctx, path);
  (ref.labels ?? []).forEach((f, i) => {
    if (item.labels[i] !== undefined && o[f] === undefined) o[f] = item.labels[i];
  });
  if (ref.mode === 'list') {
    (out[ref.field] ??= []).push(o);
    return;
  }
  const key = item.labels[0]!;
  const m = (out[ref.field] ??= {});
  if (key in m)
    problemAt(
      ctx,
      item.labelRanges[0],
      `Duplicate ${item.type} "${key}": a ${item.type} with this name was already defined`,
      path,
    );
  else m[key] = o;
}
