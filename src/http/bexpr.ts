/**
 * Nomad's `?filter=` expressions (HashiCorp go-bexpr) over the JSON objects a list endpoint answers.
 *
 *   expr     := or
 *   or       := and ('or' and)*
 *   and      := unary ('and' unary)*
 *   unary    := 'not' unary | '(' or ')' | match
 *   match    := selector ('==' | '!=') value | selector 'matches' value | selector 'not' 'matches' value
 *             | selector 'is' ['not'] 'empty' | value ['not'] 'in' selector | selector ['not'] 'contains' value
 *   selector := ident ('.' ident | '[' string ']')*
 *   value    := "double quoted" | `raw` | number | true | false | bare word
 *
 * As go-bexpr, a literal is compared with a field after conversion to the field's type (so `Count == 3`
 * and `Count == "3"` agree); `in`/`contains` test membership of a list, a key of a map or a substring; a
 * selector that leads nowhere makes its comparison false (`!=` true). `matches` uses RE2 semantics
 * (lib/regex), so a hostile pattern cannot take exponential time.
 */
import { badRequest } from '../errors/index.js';
import { compileGoRegexp, type GoRegexp } from '../lib/regex.js';

type Value = string;
type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; expr: Node }
  | { kind: 'eq' | 'ne'; sel: string[]; value: Value }
  | { kind: 'empty'; sel: string[]; negate: boolean }
  | { kind: 'in'; sel: string[]; value: Value; negate: boolean }
  | { kind: 'matches'; sel: string[]; re: GoRegexp; negate: boolean };

interface Token {
  t: 'word' | 'str' | 'op' | 'lp' | 'rp' | 'dot' | 'lb' | 'rb';
  v: string;
  pos: number;
}

/** Longest expression accepted: a filter travels in a URL, so this is far above any real one. */
const MAX_FILTER_LENGTH = 4096;
/** Nesting depth bound: a deeply parenthesised filter must not exhaust the stack. */
const MAX_DEPTH = 64;

function fail(src: string, pos: number, what: string): never {
  throw badRequest(`failed to read filter expression: ${what} at column ${pos + 1} of ${JSON.stringify(src)}`);
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const start = i;
    if (ch === '"') {
      let s = '';
      i++;
      while (i < src.length && src[i] !== '"') {
        if (src[i] === '\\' && i + 1 < src.length) {
          const n = src[i + 1]!;
          s += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          i += 2;
        } else s += src[i++];
      }
      if (i >= src.length) fail(src, start, 'unterminated string');
      i++;
      out.push({ t: 'str', v: s, pos: start });
    } else if (ch === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) fail(src, start, 'unterminated raw string');
      out.push({ t: 'str', v: src.slice(i + 1, end), pos: start });
      i = end + 1;
    } else if (src.startsWith('==', i) || src.startsWith('!=', i)) {
      out.push({ t: 'op', v: src.slice(i, i + 2), pos: start });
      i += 2;
    } else if (ch === '(' || ch === ')' || ch === '.' || ch === '[' || ch === ']') {
      out.push({
        t: ch === '(' ? 'lp' : ch === ')' ? 'rp' : ch === '.' ? 'dot' : ch === '[' ? 'lb' : 'rb',
        v: ch,
        pos: start,
      });
      i++;
    } else if (/[A-Za-z0-9_\-:/+]/.test(ch)) {
      while (i < src.length && /[A-Za-z0-9_\-:/+]/.test(src[i]!)) i++;
      // A number may carry a decimal point (`1.5`); a dot after a word is a selector step.
      if (/^-?\d+$/.test(src.slice(start, i)) && src[i] === '.' && /\d/.test(src[i + 1] ?? '')) {
        i++;
        while (i < src.length && /\d/.test(src[i]!)) i++;
      }
      out.push({ t: 'word', v: src.slice(start, i), pos: start });
    } else fail(src, start, `unexpected character ${JSON.stringify(ch)}`);
  }
  return out;
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly src: string,
    private readonly toks: Token[],
  ) {}

  parse(): Node {
    if (this.toks.length === 0) fail(this.src, 0, 'empty expression');
    const n = this.or();
    if (this.i < this.toks.length)
      fail(this.src, this.toks[this.i]!.pos, `unexpected ${JSON.stringify(this.toks[this.i]!.v)}`);
    return n;
  }

  private peek(): Token | undefined {
    return this.toks[this.i];
  }
  private isWord(w: string, off = 0): boolean {
    const t = this.toks[this.i + off];
    return t !== undefined && t.t === 'word' && t.v === w;
  }
  private endPos(): number {
    return this.src.length;
  }

  private or(): Node {
    let left = this.and();
    while (this.isWord('or')) {
      this.i++;
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): Node {
    let left = this.unary();
    while (this.isWord('and')) {
      this.i++;
      left = { kind: 'and', left, right: this.unary() };
    }
    return left;
  }

  private unary(): Node {
    if (++this.depth > MAX_DEPTH) fail(this.src, this.peek()?.pos ?? 0, `expression nested deeper than ${MAX_DEPTH}`);
    try {
      if (this.isWord('not')) {
        this.i++;
        return { kind: 'not', expr: this.unary() };
      }
      const t = this.peek();
      if (t?.t === 'lp') {
        this.i++;
        const n = this.or();
        if (this.peek()?.t !== 'rp') fail(this.src, this.peek()?.pos ?? this.endPos(), 'expected ")"');
        this.i++;
        return n;
      }
      return this.match();
    } finally {
      this.depth--;
    }
  }

  private value(): Value {
    const t = this.peek();
    if (t === undefined) fail(this.src, this.endPos(), 'expected a value');
    if (t.t !== 'str' && t.t !== 'word') fail(this.src, t.pos, `expected a value, got ${JSON.stringify(t.v)}`);
    this.i++;
    return t.v;
  }

  private selector(): string[] {
    const t = this.peek();
    if (t === undefined || t.t !== 'word') fail(this.src, t?.pos ?? this.endPos(), 'expected a selector');
    this.i++;
    const parts = [t.v];
    for (;;) {
      const n = this.peek();
      if (n?.t === 'dot') {
        const w = this.toks[this.i + 1];
        if (w === undefined || w.t !== 'word') fail(this.src, n.pos, 'expected a field name after "."');
        parts.push(w.v);
        this.i += 2;
      } else if (n?.t === 'lb') {
        const s = this.toks[this.i + 1];
        if (s === undefined || s.t !== 'str' || this.toks[this.i + 2]?.t !== 'rb')
          fail(this.src, n.pos, 'expected ["key"]');
        parts.push(s.v);
        this.i += 3;
      } else return parts;
    }
  }

  private match(): Node {
    const t = this.peek();
    if (t === undefined) fail(this.src, this.endPos(), 'expected an expression');
    // `value in Selector` / `value not in Selector`: a string first, or a word followed by in / not in.
    if (
      t.t === 'str' ||
      (t.t === 'word' && (this.isWord('in', 1) || (this.isWord('not', 1) && this.isWord('in', 2))))
    ) {
      const value = this.value();
      const negate = this.isWord('not');
      if (negate) this.i++;
      if (!this.isWord('in'))
        fail(this.src, this.peek()?.pos ?? this.endPos(), 'expected "in" or "not in" after a value');
      this.i++;
      return { kind: 'in', sel: this.selector(), value, negate };
    }
    const sel = this.selector();
    const op = this.peek();
    if (op === undefined) fail(this.src, this.endPos(), `expected an operator after ${sel.join('.')}`);
    if (op.t === 'op') {
      this.i++;
      return { kind: op.v === '==' ? 'eq' : 'ne', sel, value: this.value() };
    }
    if (this.isWord('is')) {
      this.i++;
      const negate = this.isWord('not');
      if (negate) this.i++;
      if (!this.isWord('empty')) fail(this.src, this.peek()?.pos ?? this.endPos(), 'expected "empty" after "is"');
      this.i++;
      return { kind: 'empty', sel, negate };
    }
    const negate = this.isWord('not');
    if (negate) this.i++;
    if (this.isWord('contains')) {
      this.i++;
      return { kind: 'in', sel, value: this.value(), negate };
    }
    if (this.isWord('matches')) {
      this.i++;
      const at = this.peek()?.pos ?? this.endPos();
      const pattern = this.value();
      try {
        return { kind: 'matches', sel, re: compileGoRegexp(pattern), negate };
      } catch (e) {
        fail(this.src, at, `invalid regular expression ${JSON.stringify(pattern)}: ${(e as Error).message}`);
      }
    }
    fail(
      this.src,
      this.peek()?.pos ?? op.pos,
      `expected ==, !=, is empty, contains, matches or in after ${sel.join('.')}`,
    );
  }
}

const MISSING = Symbol('missing');

function lookup(obj: unknown, sel: string[]): unknown {
  let cur: unknown = obj;
  for (const p of sel) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return MISSING;
    if (!Object.prototype.hasOwnProperty.call(cur, p)) return MISSING;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** Equality after converting the literal to the field's type, as go-bexpr does. */
function equals(field: unknown, lit: string): boolean {
  if (typeof field === 'string') return field === lit;
  if (typeof field === 'number') return lit.trim() !== '' && Number(lit) === field;
  if (typeof field === 'boolean') return parseGoBoolOrNull(lit) === field;
  if (field === null) return lit === '' || lit === 'null';
  return false;
}

function parseGoBoolOrNull(s: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return null;
}

function evaluate(n: Node, obj: unknown): boolean {
  switch (n.kind) {
    case 'and':
      return evaluate(n.left, obj) && evaluate(n.right, obj);
    case 'or':
      return evaluate(n.left, obj) || evaluate(n.right, obj);
    case 'not':
      return !evaluate(n.expr, obj);
    case 'eq':
    case 'ne': {
      const v = lookup(obj, n.sel);
      const eq = v !== MISSING && equals(v, n.value);
      return n.kind === 'eq' ? eq : !eq;
    }
    case 'empty': {
      const v = lookup(obj, n.sel);
      const empty =
        v === MISSING ||
        v === null ||
        v === '' ||
        (Array.isArray(v) && v.length === 0) ||
        (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
      return n.negate ? !empty : empty;
    }
    case 'in': {
      const v = lookup(obj, n.sel);
      let found = false;
      if (typeof v === 'string') found = v.includes(n.value);
      else if (Array.isArray(v)) found = v.some((e) => equals(e, n.value));
      else if (v !== null && typeof v === 'object') found = Object.prototype.hasOwnProperty.call(v, n.value);
      return n.negate ? !found : found;
    }
    case 'matches': {
      const v = lookup(obj, n.sel);
      const found = typeof v === 'string' && n.re.test(v);
      return n.negate ? !found : found;
    }
  }
}

/** A compiled filter: `test(obj)` tells whether a list element passes. */
export interface Filter {
  readonly source: string;
  test(obj: unknown): boolean;
}

/** Parses a go-bexpr expression; throws BadRequest naming the column of the problem. */
export function compileFilter(src: string): Filter {
  if (src.length > MAX_FILTER_LENGTH)
    throw badRequest(`failed to read filter expression: longer than ${MAX_FILTER_LENGTH} characters`);
  const ast = new Parser(src, tokenize(src)).parse();
  return { source: src, test: (obj) => evaluate(ast, obj) };
}
