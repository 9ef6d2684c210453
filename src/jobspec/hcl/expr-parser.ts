/**
 * HCL2 expressions by recursive descent. Precedence, lowest first:
 *
 *   cond ? a : b  <  ||  <  &&  <  == !=  <  < <= > >=  <  + -  <  * / %  <  unary ! -  <  postfix
 *
 * Postfix steps are attribute access (`.name`), legacy index (`.0`), index (`[k]`), attribute splat (`.*`)
 * and full splat (`[*]`). A root name followed by static steps stays one `scopeTraversal`, as in HCL,
 * so the evaluator can tell `node.unique.name` (unknown root, kept verbatim) from a real lookup.
 * Errors never throw: they become diagnostics and an `invalid` placeholder (a null literal).
 */
import type { BinaryOp, Expression, ForExpr, ObjectConsItem, Pos, Range, Traverser } from './ast.js';
import type { Token } from './lexer.js';
import { parseHeredoc, parseQuoted } from './template-parser.js';
import { TokenStream, describeToken } from './token-stream.js';

/** Binary operators by precedence, loosest first (all left-associative). */
const PRECEDENCE = new Map<string, number>([
  ['||', 1],
  ['&&', 2],
  ['==', 3],
  ['!=', 3],
  ['<', 4],
  ['<=', 4],
  ['>', 4],
  ['>=', 4],
  ['+', 5],
  ['-', 5],
  ['*', 6],
  ['/', 6],
  ['%', 6],
]);

export class ExprParser extends TokenStream {
  parseExpression(): Expression {
    const start = this.peek().start;
    if (!this.enter(this.tokRange(this.peek()))) return this.placeholder(start);
    try {
      return this.parseConditional();
    } finally {
      this.leave();
    }
  }

  /** A null literal standing for an expression that could not be read; its diagnostic is already out. */
  placeholder(start: Pos): Expression {
    return { type: 'literal', value: null, range: this.range(start, start), raw: '' };
  }

  finish<E extends Expression>(e: E): E {
    e.raw = this.lx.src.slice(e.range.start.offset, e.range.end.offset);
    return e;
  }

  private parseConditional(): Expression {
    const cond = this.parseBinary(1);
    if (!this.is('?')) return cond;
    this.next();
    const then = this.parseExpression();
    if (!this.is(':')) {
      const t = this.peek();
      this.error(
        'Missing false expression in conditional',
        `The conditional operator (...?...:...) requires a false expression, delimited by a colon; found ${describeToken(t)}.`,
        this.tokRange(t),
      );
      return this.finish({
        type: 'conditional',
        cond,
        then,
        else: this.placeholder(t.start),
        range: this.range(cond.range.start),
      });
    }
    this.next();
    const els = this.parseExpression();
    return this.finish({ type: 'conditional', cond, then, else: els, range: this.range(cond.range.start) });
  }

  /** Precedence climbing: one call per operand instead of one per precedence level. */
  private parseBinary(minPrec: number): Expression {
    let left = this.parseUnary();
    for (;;) {
      const t = this.peek();
      const prec = PRECEDENCE.get(t.type);
      if (prec === undefined || prec < minPrec) return left;
      this.next();
      const right = this.parseBinary(prec + 1);
      left = this.finish({
        type: 'binaryOp',
        op: t.type as BinaryOp,
        left,
        right,
        range: this.range(left.range.start),
      });
    }
  }

  private parseUnary(): Expression {
    const t = this.peek();
    if (t.type === '!' || t.type === '-') {
      this.next();
      if (!this.enter(this.tokRange(t))) return this.placeholder(t.start);
      try {
        const operand = this.parseUnary();
        return this.finish({ type: 'unaryOp', op: t.type, operand, range: this.range(t.start) });
      } finally {
        this.leave();
      }
    }
    return this.parsePostfix(this.parsePrimary());
  }

  private parsePrimary(): Expression {
    const t = this.peek();
    switch (t.type) {
      case 'number':
        this.next();
        return this.finish({ type: 'literal', value: Number(t.text), range: this.tokRange(t) });
      case 'ident':
        return this.parseIdentStart(t);
      case 'oquote':
        this.next();
        this.dropPeeked();
        return parseQuoted(this, t);
      case 'heredoc':
        this.next();
        this.dropPeeked();
        return parseHeredoc(this, t);
      case '(':
        return this.parseParens(t);
      case '[':
        return this.parseTuple(t);
      case '{':
        return this.parseObject(t);
      default:
        this.error(
          'Invalid expression',
          `Expected the start of an expression, but found ${describeToken(t)}.`,
          this.tokRange(t),
        );
        if (t.type === 'invalid') this.next();
        return this.placeholder(t.start);
    }
  }

  private parseIdentStart(t: Token): Expression {
    this.next();
    const range = this.tokRange(t);
    switch (t.text) {
      case 'true':
        return this.finish({ type: 'literal', value: true, range });
      case 'false':
        return this.finish({ type: 'literal', value: false, range });
      case 'null':
        return this.finish({ type: 'literal', value: null, range });
    }
    if (this.is('(')) return this.parseCall(t);
    return this.finish({ type: 'scopeTraversal', root: t.text, traversal: [], range });
  }

  private parseCall(name: Token): Expression {
    this.next();
    this.pushNewlines(true);
    const args: Expression[] = [];
    let expandFinal = false;
    try {
      while (!this.is(')') && !this.is('eof')) {
        const errorsBefore = this.diags.length;
        args.push(this.parseExpression());
        if (this.is('...')) {
          this.next();
          expandFinal = true;
          if (!this.is(')')) {
            const t = this.peek();
            this.error(
              'Missing closing parenthesis',
              'An expanded function argument (with "...") must be immediately followed by closing parentheses.',
              this.tokRange(t),
            );
            break;
          }
        }
        if (this.is(',')) {
          this.next();
          continue;
        }
        if (!this.is(')')) {
          const t = this.peek();
          if (this.diags.length === errorsBefore) {
            this.error(
              'Missing argument separator',
              `A comma is required to separate each function argument from the next; found ${describeToken(t)}.`,
              this.tokRange(t),
            );
          }
          break;
        }
      }
      this.expectClose(
        ')',
        'Unterminated function call',
        `There is no closing parenthesis for this function call of "${name.text}".`,
        name,
      );
    } finally {
      this.popNewlines();
    }
    return this.finish({
      type: 'functionCall',
      name: name.text,
      nameRange: this.tokRange(name),
      args,
      expandFinal,
      range: this.range(name.start),
    });
  }

  /** Consumes `type` or reports the summary/detail at the opener; returns whether it was there. */
  expectClose(type: ')' | ']' | '}', summary: string, detail: string, opener: Token): boolean {
    if (this.is(type)) {
      this.next();
      return true;
    }
    const t = this.peek();
    this.error(summary, `${detail} Found ${describeToken(t)}.`, this.range(opener.start, opener.end));
    return false;
  }

  private parseParens(open: Token): Expression {
    this.next();
    this.pushNewlines(true);
    try {
      const inner = this.parseExpression();
      this.expectClose(
        ')',
        'Missing close parenthesis',
        'Expected a closing parenthesis to terminate the expression.',
        open,
      );
      return this.finish({ type: 'parens', inner, range: this.range(open.start) });
    } finally {
      this.popNewlines();
    }
  }

  private parseTuple(open: Token): Expression {
    this.next();
    this.pushNewlines(true);
    try {
      if (this.isKeyword('for') && this.peekSecond().type === 'ident') return this.parseFor(open, false);
      const items: Expression[] = [];
      while (!this.is(']') && !this.is('eof')) {
        items.push(this.parseExpression());
        if (this.is(',')) {
          this.next();
          continue;
        }
        if (!this.is(']')) {
          const t = this.peek();
          this.error(
            'Missing item separator',
            `Expected a comma to mark the beginning of the next item; found ${describeToken(t)}.`,
            this.tokRange(t),
          );
          this.skipTo(']');
        }
        break;
      }
      this.expectClose(']', 'Missing closing bracket', 'There is no closing bracket for this tuple.', open);
      return this.finish({ type: 'tuple', items, range: this.range(open.start) });
    } finally {
      this.popNewlines();
    }
  }

  private parseObject(open: Token): Expression {
    this.next();
    this.pushNewlines(false);
    try {
      while (this.is('nl')) this.next();
      if (this.isKeyword('for') && this.peekSecond().type === 'ident') {
        this.pushNewlines(true);
        try {
          return this.parseFor(open, true);
        } finally {
          this.popNewlines();
        }
      }
      const items: ObjectConsItem[] = [];
      for (;;) {
        while (this.is('nl')) this.next();
        if (this.is('}') || this.is('eof')) break;
        const item = this.parseObjectItem();
        if (!item) {
          this.skipTo('}');
          break;
        }
        items.push(item);
        const t = this.peek();
        if (t.type === ',' || t.type === 'nl') {
          this.next();
          continue;
        }
        if (t.type !== '}') {
          this.error(
            'Missing attribute separator',
            `Expected a newline or comma to mark the beginning of the next attribute; found ${describeToken(t)}.`,
            this.tokRange(t),
          );
          this.skipTo('}');
          break;
        }
      }
      this.expectClose('}', 'Missing closing brace', 'There is no closing brace for this object.', open);
      return this.finish({ type: 'object', items, range: this.range(open.start) });
    } finally {
      this.popNewlines();
    }
  }

  private parseObjectItem(): ObjectConsItem | null {
    const keyStart = this.peek();
    let key = this.parseExpression();
    let keyIsBareIdent = false;
    if (key.type === 'scopeTraversal' && key.traversal.length === 0) {
      keyIsBareIdent = true;
      key = this.finish({ type: 'literal', value: key.root, range: key.range });
    }
    const sep = this.peek();
    if (sep.type !== '=' && sep.type !== ':') {
      if (keyStart !== sep) {
        this.error(
          'Missing key/value separator',
          `Expected an equals sign ("=") to mark the beginning of the attribute value; found ${describeToken(sep)}.`,
          this.tokRange(sep),
        );
      }
      return null;
    }
    this.next();
    const value = this.parseExpression();
    return { key, keyIsBareIdent, value };
  }

  /** Skips to (not past) the closing token at this nesting level, or EOF. */
  skipTo(close: ')' | ']' | '}'): void {
    let depth = 0;
    for (;;) {
      const t = this.peek();
      if (t.type === 'eof') return;
      if (depth === 0 && t.type === close) return;
      if (t.type === '(' || t.type === '[' || t.type === '{') depth++;
      else if (t.type === ')' || t.type === ']' || t.type === '}') {
        if (depth === 0) return;
        depth--;
      }
      this.next();
      if (t.type === 'oquote' || t.type === 'heredoc') this.skipTemplate(t);
    }
  }

  /** Reads and discards a template whose opener was just consumed, without adding diagnostics. */
  skipTemplate(open: Token): void {
    this.dropPeeked();
    const keep = this.diags.length;
    if (open.type === 'oquote') parseQuoted(this, open);
    else parseHeredoc(this, open);
    this.diags.length = keep;
  }

  private parseFor(open: Token, isObject: boolean): Expression {
    this.next(); // `for`
    const close = isObject ? '}' : ']';
    const first = this.next();
    let keyVar: string | null = null;
    let valueVar = first.text;
    if (this.is(',')) {
      this.next();
      const second = this.peek();
      if (second.type !== 'ident')
        return this.badFor(open, close, second, 'Expected an identifier for the value variable after the comma.');
      this.next();
      keyVar = first.text;
      valueVar = second.text;
    }
    if (!this.isKeyword('in'))
      return this.badFor(open, close, this.peek(), 'Expected the "in" keyword after the iteration variables.');
    this.next();
    const collection = this.parseExpression();
    if (!this.is(':'))
      return this.badFor(open, close, this.peek(), 'Expected a colon after the collection expression.');
    this.next();
    let keyExpr: Expression | null = null;
    let valueExpr = this.parseExpression();
    let group = false;
    if (isObject) {
      if (!this.is('=>'))
        return this.badFor(
          open,
          close,
          this.peek(),
          'An object for expression needs a key expression, then "=>", then a value expression.',
        );
      this.next();
      keyExpr = valueExpr;
      valueExpr = this.parseExpression();
      if (this.is('...')) {
        this.next();
        group = true;
      }
    }
    let condExpr: Expression | null = null;
    if (this.isKeyword('if')) {
      this.next();
      condExpr = this.parseExpression();
    }
    if (!this.is(close)) {
      this.badFor(open, close, this.peek(), `Expected "${close}" to end the for expression.`);
    } else {
      this.next();
    }
    const e: ForExpr = {
      type: 'for',
      keyVar,
      valueVar,
      collection,
      keyExpr,
      valueExpr,
      condExpr,
      group,
      range: this.range(open.start),
    };
    return this.finish(e);
  }

  private badFor(open: Token, close: ']' | '}', at: Token, detail: string): Expression {
    this.error('Invalid for expression', `${detail} Found ${describeToken(at)}.`, this.tokRange(at));
    this.skipTo(close);
    if (this.is(close)) this.next();
    return this.placeholder(open.start);
  }

  private parsePostfix(e: Expression): Expression {
    let cur = e;
    for (;;) {
      const t = this.peek();
      if (t.type === '.') {
        this.next();
        const n = this.peek();
        if (n.type === '*') {
          this.next();
          cur = this.parseSplat(cur, false, t.start);
          continue;
        }
        const steps = this.parseDotStep(t);
        if (!steps) return cur;
        cur = this.addSteps(cur, steps);
      } else if (t.type === '[') {
        cur = this.parseBracket(cur, t);
      } else {
        return cur;
      }
    }
  }

  /** After a consumed `.`: a name or a legacy numeric index (`.0`, and `.0.1` which lexes as one number). */
  private parseDotStep(dot: Token): Traverser[] | null {
    const n = this.peek();
    if (n.type === 'ident') {
      this.next();
      return [{ type: 'attr', name: n.text, range: this.range(dot.start) }];
    }
    if (n.type === 'number' && /^[0-9]+(\.[0-9]+)?$/.test(n.text)) {
      this.next();
      return n.text
        .split('.')
        .map((d) => ({ type: 'index', key: Number(d), range: this.range(dot.start) }) as Traverser);
    }
    this.error(
      'Invalid attribute name',
      `An attribute name is required after a dot; found ${describeToken(n)}.`,
      this.tokRange(n),
    );
    return null;
  }

  private addSteps(cur: Expression, steps: Traverser[]): Expression {
    const end = steps[steps.length - 1]!.range.end;
    if (cur.type === 'scopeTraversal' || cur.type === 'relativeTraversal') {
      cur.traversal.push(...steps);
      cur.range = { ...cur.range, end };
      return this.finish(cur);
    }
    return this.finish({ type: 'relativeTraversal', source: cur, traversal: steps, range: { ...cur.range, end } });
  }

  private parseBracket(cur: Expression, open: Token): Expression {
    this.next();
    this.pushNewlines(true);
    if (this.is('*')) {
      this.next();
      this.expectClose(
        ']',
        'Missing close bracket on splat index',
        'The star for a full splat operator must be immediately followed by a closing bracket ("]").',
        open,
      );
      this.popNewlines();
      return this.parseSplat(cur, true, open.start);
    }
    const key = this.parseExpression();
    this.expectClose(
      ']',
      'Missing close bracket on index',
      'The index operator must end with a closing bracket ("]").',
      open,
    );
    this.popNewlines();
    const range = this.range(open.start);
    if (key.type === 'literal' && (typeof key.value === 'number' || typeof key.value === 'string')) {
      return this.addSteps(cur, [{ type: 'index', key: key.value, range }]);
    }
    const lit = staticString(key);
    if (lit !== null) return this.addSteps(cur, [{ type: 'index', key: lit, range }]);
    return this.finish({ type: 'index', collection: cur, key, range: { ...cur.range, end: range.end } });
  }

  /** The steps after `.*` or `[*]` apply to each element; `.*` (attribute-only splat) takes no `[...]`. */
  private parseSplat(source: Expression, full: boolean, start: Pos): Expression {
    const each: Traverser[] = [];
    for (;;) {
      const t = this.peek();
      if (t.type === '.') {
        const second = this.peekSecond();
        if (second.type === '*') break;
        this.next();
        const steps = this.parseDotStep(t);
        if (!steps) break;
        each.push(...steps);
      } else if (full && t.type === '[') {
        const second = this.peekSecond();
        if (second.type === '*') break;
        if (second.type !== 'number' && second.type !== 'oquote') break;
        this.next();
        this.pushNewlines(true);
        const key = this.parseExpression();
        this.expectClose(
          ']',
          'Missing close bracket on index',
          'The index operator must end with a closing bracket ("]").',
          t,
        );
        this.popNewlines();
        const k = key.type === 'literal' && typeof key.value === 'number' ? key.value : staticString(key);
        if (k === null) {
          this.error('Invalid index', 'Inside a splat, only constant indexes are supported.', key.range);
          break;
        }
        each.push({ type: 'index', key: k, range: this.range(t.start) });
      } else {
        break;
      }
    }
    const range: Range = { filename: this.filename, start: source.range.start, end: this.lastEnd() };
    if (range.end.offset < start.offset) range.end = start;
    return this.finish({ type: 'splat', source, each, full, range });
  }
}

/** The string of a quoted template that has only literal text (`"foo"`), else null. */
export function staticString(e: Expression): string | null {
  if (e.type === 'literal' && typeof e.value === 'string') return e.value;
  if (e.type !== 'template') return null;
  let s = '';
  for (const p of e.parts) {
    if (p.type !== 'text') return null;
    s += p.value;
  }
  return s;
}
