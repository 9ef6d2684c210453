/**
 * HCL2 native-syntax scanner: one pass over the string by char code, tokens produced on demand.
 *
 * The scanner has no template mode of its own: when the parser meets an opening quote or heredoc it reads
 * the template text directly through `peekCode`/`advance` and calls back into normal tokens for each
 * `${ ... }`. That is why tokens are lexed lazily (never more than the one the parser is looking at).
 */
import type { Pos, Range } from './ast.js';

export type TokType =
  | 'ident'
  | 'number'
  | 'oquote'
  | 'heredoc'
  | 'nl'
  | 'eof'
  | 'invalid'
  | '{'
  | '}'
  | '['
  | ']'
  | '('
  | ')'
  | '='
  | ':'
  | ','
  | '.'
  | '...'
  | '?'
  | '!'
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '&&'
  | '||'
  | '=>'
  | '~';

export interface Token {
  type: TokType;
  /** Identifier name, number text, heredoc marker, or the offending character for `invalid`. */
  text: string;
  start: Pos;
  end: Pos;
  /** Heredoc only: `<<-` form. */
  indented?: boolean;
}

const CH_NL = 10;
const CH_CR = 13;
const CH_TAB = 9;
const CH_SPACE = 32;

export function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (c > 127 && isUnicodeLetter(c));
}

export function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57) || c === 45 || (c > 127 && isUnicodePart(c));
}

const ID_START = /\p{ID_Start}/u;
const ID_CONTINUE = /\p{ID_Continue}/u;
function isUnicodeLetter(c: number): boolean {
  return ID_START.test(String.fromCharCode(c));
}
function isUnicodePart(c: number): boolean {
  return ID_CONTINUE.test(String.fromCharCode(c));
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `==` `!=` `<=` `>=` `&&` `||` `=>`, keyed by first * 65536 + second char code. */
const TWO_CHAR_OPS = new Map<number, TokType>(
  (['==', '!=', '<=', '>=', '&&', '||', '=>'] as const).map((op) => [op.charCodeAt(0) * 65536 + op.charCodeAt(1), op]),
);

export class Lexer {
  readonly src: string;
  readonly filename: string;
  pos = 0;
  line = 1;
  col = 1;

  constructor(src: string, filename: string) {
    this.src = src;
    this.filename = filename;
  }

  here(): Pos {
    return { line: this.line, column: this.col, offset: this.pos };
  }

  range(start: Pos, end: Pos = this.here()): Range {
    return { filename: this.filename, start, end };
  }

  peekCode(ahead = 0): number {
    const i = this.pos + ahead;
    return i < this.src.length ? this.src.charCodeAt(i) : -1;
  }

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  /** Moves one character, keeping line and column right. */
  advance(): void {
    const c = this.src.charCodeAt(this.pos);
    this.pos++;
    if (c === CH_NL) {
      this.line++;
      this.col = 1;
    } else {
      this.col++;
    }
  }

  advanceN(n: number): void {
    for (let i = 0; i < n; i++) this.advance();
  }

  startsWith(s: string): boolean {
    return this.src.startsWith(s, this.pos);
  }

  /** Skips spaces, tabs, carriage returns and comments, but not newlines (they end attributes). */
  private skipTrivia(): void {
    const src = this.src;
    for (;;) {
      const c = this.peekCode();
      if (c === CH_SPACE || c === CH_TAB || (c === CH_CR && this.peekCode(1) !== CH_NL) || c === 0xfeff) {
        this.advance();
      } else if (c === 35 /* # */ || (c === 47 /* / */ && this.peekCode(1) === 47)) {
        while (this.pos < src.length) {
          const d = src.charCodeAt(this.pos);
          if (d === CH_NL || (d === CH_CR && this.peekCode(1) === CH_NL)) break;
          this.advance();
        }
      } else if (c === 47 && this.peekCode(1) === 42 /* * */) {
        this.advanceN(2);
        while (this.pos < src.length && !(src.charCodeAt(this.pos) === 42 && this.peekCode(1) === 47)) this.advance();
        if (this.pos < src.length) this.advanceN(2);
      } else {
        return;
      }
    }
  }

  next(): Token {
    this.skipTrivia();
    const start = this.here();
    const c = this.peekCode();
    if (c === -1) return this.tok('eof', '', start);
    if (c === CH_NL || c === CH_CR) {
      this.advance();
      if (c === CH_CR) this.advance();
      return this.tok('nl', '\n', start);
    }
    if (isIdentStart(c)) {
      const from = this.pos;
      this.advance();
      while (this.pos < this.src.length && isIdentPart(this.src.charCodeAt(this.pos))) this.advance();
      return this.tok('ident', this.src.slice(from, this.pos), start);
    }
    if (isDigit(c)) return this.number(start);
    if (c === 34 /* " */) {
      this.advance();
      return this.tok('oquote', '"', start);
    }
    if (c === 60 /* < */ && this.peekCode(1) === 60) {
      const h = this.heredoc(start);
      if (h) return h;
    }
    return this.punct(start, c);
  }

  private tok(type: TokType, text: string, start: Pos): Token {
    return { type, text, start, end: this.here() };
  }

  private number(start: Pos): Token {
    const from = this.pos;
    while (isDigit(this.peekCode())) this.advance();
    if (this.peekCode() === 46 /* . */ && isDigit(this.peekCode(1))) {
      this.advance();
      while (isDigit(this.peekCode())) this.advance();
    }
    const e = this.peekCode();
    if (e === 101 || e === 69) {
      const s = this.peekCode(1);
      if (isDigit(s) || ((s === 43 || s === 45) && isDigit(this.peekCode(2)))) {
        this.advanceN(s === 43 || s === 45 ? 2 : 1);
        while (isDigit(this.peekCode())) this.advance();
      }
    }
    return this.tok('number', this.src.slice(from, this.pos), start);
  }

  /** `<<EOT` or `<<-EOT` then a newline; null (nothing consumed) if this is not a heredoc opener. */
  private heredoc(start: Pos): Token | null {
    let i = this.pos + 2;
    const indented = this.src.charCodeAt(i) === 45;
    if (indented) i++;
    if (!isIdentStart(this.src.charCodeAt(i))) return null;
    const markFrom = i;
    while (i < this.src.length && isIdentPart(this.src.charCodeAt(i))) i++;
    const marker = this.src.slice(markFrom, i);
    let j = i;
    if (this.src.charCodeAt(j) === CH_CR) j++;
    if (j < this.src.length && this.src.charCodeAt(j) !== CH_NL) return null;
    this.advanceN(j - this.pos + (j < this.src.length ? 1 : 0));
    return { type: 'heredoc', text: marker, start, end: this.here(), indented };
  }

  private punct(start: Pos, c: number): Token {
    const c1 = this.peekCode(1);
    if (c === 46 /* . */ && c1 === 46 && this.peekCode(2) === 46) {
      this.advanceN(3);
      return this.tok('...', '...', start);
    }
    const two = TWO_CHAR_OPS.get(c * 65536 + c1);
    if (two !== undefined && c1 >= 0) {
      this.advanceN(2);
      return this.tok(two, two, start);
    }
    const ch = String.fromCharCode(c);
    switch (ch) {
      case '{':
      case '}':
      case '[':
      case ']':
      case '(':
      case ')':
      case '=':
      case ':':
      case ',':
      case '.':
      case '?':
      case '!':
      case '<':
      case '>':
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
      case '~':
        this.advance();
        return this.tok(ch, ch, start);
    }
    // One whole code point, so a stray emoji is reported once.
    const cp = this.src.codePointAt(this.pos) ?? c;
    const text = String.fromCodePoint(cp);
    this.advanceN(text.length);
    return this.tok('invalid', text, start);
  }
}
