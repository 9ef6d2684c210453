/**
 * HCL2 bodies: attributes (`name = expr` ended by a newline) and blocks (`type "label" label2 { ... }`),
 * in source order. On a bad line the parser reports it and skips to the end of that line (balancing
 * brackets and reading over strings), so one run reports every independent problem.
 */
import type { Attribute, Block, Body, ParseResult, Pos, Range } from './ast.js';
import { ExprParser, staticString } from './expr-parser.js';
import type { Token } from './lexer.js';
import { parseQuoted } from './template-parser.js';
import { describeToken } from './token-stream.js';

/**
 * Parses HCL2 native syntax. Never throws: whatever could be read is returned with diagnostics
 * (file:line:column ranges) for every problem found.
 */
export function parseHCL(src: string, filename: string): ParseResult {
  const p = new BodyParser(src, filename);
  let body: Body;
  try {
    body = p.parseBody(null);
  } catch (e) {
    // A parser bug must not take the caller down with it: report it as a diagnostic.
    const at: Pos = { line: 1, column: 1, offset: 0 };
    body = { items: [], range: { filename, start: at, end: at } };
    p.diags.push({ severity: 'error', summary: 'Internal parser error', detail: String(e), range: body.range });
  }
  return { body, diagnostics: p.diags };
}

class BodyParser extends ExprParser {
  /** `opener` is the block's `{`, or null for the file body (which ends at EOF). */
  parseBody(opener: Token | null): Body {
    const start = opener ? opener.end : this.lx.here();
    const items: Array<Attribute | Block> = [];
    const seen = new Map<string, Range>();
    for (;;) {
      const t = this.peek();
      if (t.type === 'nl') {
        this.next();
        continue;
      }
      if (t.type === 'eof') {
        if (opener) {
          this.error(
            'Unclosed configuration block',
            'There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.',
            this.tokRange(opener),
          );
        }
        break;
      }
      if (t.type === '}') {
        if (opener) break;
        this.error('Extraneous closing brace', 'This closing brace has no matching opening brace.', this.tokRange(t));
        this.next();
        continue;
      }
      if (t.type !== 'ident') {
        this.error(
          'Argument or block definition required',
          `An argument or block definition is required here; found ${describeToken(t)}.`,
          this.tokRange(t),
        );
        this.skipLine();
        continue;
      }
      const item = this.parseItem(opener !== null);
      if (!item) continue;
      if (item.kind === 'attribute') {
        const prev = seen.get(item.name);
        if (prev) {
          this.error(
            'Attribute redefined',
            `The argument "${item.name}" was already set at ${prev.filename}:${prev.start.line},${prev.start.column}. Each argument may be set only once.`,
            item.nameRange,
          );
        } else {
          seen.set(item.name, item.nameRange);
        }
      }
      items.push(item);
    }
    return { items, range: this.range(start, this.peek().start) };
  }

  private parseItem(inBlock: boolean): Attribute | Block | null {
    const name = this.next();
    if (this.is('=')) {
      this.next();
      const errorsBefore = this.diags.length;
      const expr = this.parseExpression();
      const attr: Attribute = {
        kind: 'attribute',
        name: name.text,
        nameRange: this.tokRange(name),
        expr,
        range: this.range(name.start, expr.range.end),
      };
      this.endOfItem(
        inBlock,
        errorsBefore,
        'Missing newline after argument',
        'An argument definition must end with a newline.',
      );
      return attr;
    }
    return this.parseBlock(name, inBlock);
  }

  /** After an attribute or block: a newline, end of file, or (one-line block) the closing brace. */
  private endOfItem(inBlock: boolean, errorsBefore: number, summary: string, detail: string): void {
    const t = this.peek();
    if (t.type === 'nl') {
      this.next();
      return;
    }
    if (t.type === 'eof' || (inBlock && t.type === '}')) return;
    // Report only if the item itself read cleanly; otherwise this is the same problem again.
    if (this.diags.length === errorsBefore)
      this.error(summary, `${detail} Found ${describeToken(t)}.`, this.tokRange(t));
    this.skipLine();
  }

  private parseBlock(typeTok: Token, inBlock: boolean): Block | null {
    const labels: string[] = [];
    const labelRanges: Range[] = [];
    const errorsBefore = this.diags.length;
    for (;;) {
      const t = this.peek();
      if (t.type === 'ident') {
        this.next();
        labels.push(t.text);
        labelRanges.push(this.tokRange(t));
      } else if (t.type === 'oquote') {
        this.next();
        this.dropPeeked();
        const e = parseQuoted(this, t);
        const s = staticString(e);
        if (s === null)
          this.error(
            'Invalid block label',
            'Block labels must be literal strings, without template sequences.',
            e.range,
          );
        labels.push(s ?? '');
        labelRanges.push(e.range);
      } else {
        break;
      }
    }
    const open = this.peek();
    if (open.type !== '{') {
      if (this.diags.length === errorsBefore) {
        const looksLikeArgument = labels.length === 0 && open.type !== 'nl' && open.type !== 'eof';
        const detail = looksLikeArgument
          ? `An argument needs an equals sign ("=") after its name, and a block needs an opening brace ("{"); found ${describeToken(open)}.`
          : `Either a quoted string block label or an opening brace ("{") is expected here; found ${describeToken(open)}.`;
        this.error('Invalid block definition', detail, this.tokRange(open));
      }
      this.skipLine();
      return null;
    }
    this.next();
    if (!this.enter(this.tokRange(open))) return null;
    let body: Body;
    this.pushNewlines(false);
    try {
      body = this.parseBody(open);
    } finally {
      this.popNewlines();
      this.leave();
    }
    let end = this.peek().start;
    if (this.is('}')) end = this.next().end;
    const block: Block = {
      kind: 'block',
      type: typeTok.text,
      labels,
      typeRange: this.tokRange(typeTok),
      labelRanges,
      body,
      range: this.range(typeTok.start, end),
    };
    this.endOfItem(
      inBlock,
      this.diags.length,
      'Missing newline after block definition',
      'A block definition must end with a newline.',
    );
    return block;
  }

  /** Error recovery: skip to just past the end of the current line, not past a closing `}` of the block. */
  private skipLine(): void {
    let depth = 0;
    for (;;) {
      const t = this.peek();
      if (t.type === 'eof') return;
      if (depth === 0 && t.type === '}') return;
      this.next();
      if (t.type === 'nl' && depth === 0) return;
      if (t.type === '{' || t.type === '[' || t.type === '(') depth++;
      else if ((t.type === '}' || t.type === ']' || t.type === ')') && depth > 0) depth--;
      else if (t.type === 'oquote' || t.type === 'heredoc') this.skipTemplate(t);
    }
  }
}
