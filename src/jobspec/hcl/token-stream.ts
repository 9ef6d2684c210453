/**
 * The parser's view of the scanner: one lazily lexed token of lookahead, newline significance by context,
 * diagnostics with a cap, and a nesting-depth guard.
 *
 * Newlines end attributes and separate object items, but are insignificant inside `( )`, `[ ]` and
 * `${ }`. Contexts push their rule on `nlStack`; `peek` drops newline tokens while the top says so.
 */
import type { Diagnostic, Pos, Range } from './ast.js';
import { Lexer, type Token, type TokType } from './lexer.js';

/** Past this nesting (blocks + expressions + templates) the parser stops with one diagnostic. */
export const MAX_DEPTH = 96;
/** A run that has produced this many errors stops: the rest would only be noise from the first ones. */
export const MAX_ERRORS = 60;

export class TokenStream {
  readonly lx: Lexer;
  readonly diags: Diagnostic[] = [];
  private cached: Token | null = null;
  private readonly nlStack: boolean[] = [false];
  depth = 0;
  /** Set by the depth guard or error cap: every further token reads as EOF and no more diagnostics are kept. */
  aborted = false;
  private errorCount = 0;
  private lastTokEnd: Pos;

  constructor(src: string, filename: string) {
    this.lx = new Lexer(src, filename);
    this.lastTokEnd = this.lx.here();
  }

  get filename(): string {
    return this.lx.filename;
  }

  peek(): Token {
    for (;;) {
      if (this.aborted) return this.eofToken();
      if (this.cached === null) this.cached = this.lx.next();
      if (this.cached.type === 'nl' && this.nlStack[this.nlStack.length - 1]) {
        this.lastTokEnd = this.cached.end;
        this.cached = null;
        continue;
      }
      return this.cached;
    }
  }

  next(): Token {
    const t = this.peek();
    this.cached = null;
    if (!this.aborted) this.lastTokEnd = t.end;
    return t;
  }

  /** The token after the one `peek` returns, without consuming anything. */
  peekSecond(): Token {
    this.peek();
    const { pos, line, col } = this.lx;
    let t = this.lx.next();
    while (t.type === 'nl' && this.nlStack[this.nlStack.length - 1]) t = this.lx.next();
    this.lx.pos = pos;
    this.lx.line = line;
    this.lx.col = col;
    return t;
  }

  /** Drops a peeked token so the template scanner can read raw characters from the lexer's position. */
  dropPeeked(): void {
    this.cached = null;
  }

  is(type: TokType): boolean {
    return this.peek().type === type;
  }

  isKeyword(word: string): boolean {
    const t = this.peek();
    return t.type === 'ident' && t.text === word;
  }

  pushNewlines(ignore: boolean): void {
    this.nlStack.push(ignore);
  }

  popNewlines(): void {
    if (this.nlStack.length > 1) this.nlStack.pop();
  }

  /** End of the last consumed token: where a node that just finished ends. */
  lastEnd(): Pos {
    return this.lastTokEnd;
  }

  range(start: Pos, end: Pos = this.lastTokEnd): Range {
    return { filename: this.lx.filename, start, end };
  }

  tokRange(t: Token): Range {
    return { filename: this.lx.filename, start: t.start, end: t.end };
  }

  error(summary: string, detail: string, range: Range): void {
    if (this.aborted) return;
    this.diags.push({ severity: 'error', summary, detail, range });
    if (++this.errorCount >= MAX_ERRORS) {
      this.diags.push({
        severity: 'error',
        summary: 'Too many errors',
        detail: `Parsing stopped after ${MAX_ERRORS} errors.`,
        range,
      });
      this.aborted = true;
    }
  }

  /** Call on entering a nested construct; false means the depth cap was hit and the caller must stop. */
  enter(at: Range): boolean {
    if (this.depth >= MAX_DEPTH) {
      this.error('Nesting too deep', `Blocks and expressions may be nested at most ${MAX_DEPTH} levels deep.`, at);
      this.aborted = true;
      return false;
    }
    this.depth++;
    return true;
  }

  leave(): void {
    this.depth--;
  }

  private eofToken(): Token {
    const p = this.lx.here();
    return { type: 'eof', text: '', start: p, end: p };
  }
}

export function describeToken(t: Token): string {
  switch (t.type) {
    case 'eof':
      return 'end of file';
    case 'nl':
      return 'newline';
    case 'ident':
      return `identifier "${t.text}"`;
    case 'number':
      return `number ${t.text}`;
    case 'oquote':
      return 'quoted string';
    case 'heredoc':
      return 'heredoc';
    case 'invalid':
      return `character ${JSON.stringify(t.text)}`;
    default:
      return `"${t.text}"`;
  }
}
