/**
 * Lexer for Go's text/template: splits text into literal text and the tokens inside actions.
 *
 *   text ──{{──▶ inside action ──}}──▶ text
 *     │             │  ▲
 *     │  {{/*──▶ comment ──*\/}}──▶ text
 *
 * `{{- ` trims the whitespace before the action and ` -}}` the whitespace after it; the trim marker needs the
 * space, so `{{-3}}` is the number -3. Delimiters are configurable (a job's left_delimiter/right_delimiter).
 */

export type TokenType =
  | 'text'
  | 'leftDelim'
  | 'rightDelim'
  | 'space'
  | 'identifier'
  | 'keyword'
  | 'field'
  | 'variable'
  | 'dot'
  | 'string'
  | 'rawString'
  | 'char'
  | 'charConstant'
  | 'number'
  | 'bool'
  | 'nil'
  | 'leftParen'
  | 'rightParen'
  | 'pipe'
  | 'declare'
  | 'assign'
  | 'eof';

export interface Token {
  type: TokenType;
  /** Raw text of the token (for text tokens, the text after trimming). */
  val: string;
  /** Offset in the source. */
  pos: number;
}

export const KEYWORDS = new Set([
  'block',
  'break',
  'continue',
  'define',
  'else',
  'end',
  'if',
  'range',
  'template',
  'with',
]);

export class LexError extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlnum = (c: string) => /[\p{L}\p{Nd}_]/u.test(c);
const isDigit = (c: string) => c >= '0' && c <= '9';

export function lex(input: string, leftDelim = '{{', rightDelim = '}}'): Token[] {
  return new Lexer(input, leftDelim || '{{', rightDelim || '}}').run();
}

class Lexer {
  private pos = 0;
  private readonly tokens: Token[] = [];
  private trimNextText = false;
  private parenDepth = 0;

  constructor(
    private readonly input: string,
    private readonly left: string,
    private readonly right: string,
  ) {}

  run(): Token[] {
    const { input, left } = this;
    while (this.pos < input.length) {
      const idx = input.indexOf(left, this.pos);
      if (idx < 0) {
        this.emitText(this.pos, input.length);
        this.pos = input.length;
        break;
      }
      const after = idx + left.length;
      const trimLeft = input[after] === '-' && isSpace(input[after + 1] ?? '');
      let textEnd = idx;
      if (trimLeft) while (textEnd > this.pos && isSpace(input[textEnd - 1]!)) textEnd--;
      this.emitText(this.pos, textEnd);
      this.pos = trimLeft ? after + 2 : after;
      if (input.startsWith('/*', this.pos)) this.lexComment(idx);
      else {
        this.tokens.push({ type: 'leftDelim', val: left, pos: idx });
        this.lexInsideAction(idx);
      }
    }
    this.tokens.push({ type: 'eof', val: '', pos: input.length });
    return this.tokens;
  }

  private emitText(start: number, end: number): void {
    let s = start;
    if (this.trimNextText) {
      while (s < end && isSpace(this.input[s]!)) s++;
      this.trimNextText = false;
    }
    if (end > s) this.tokens.push({ type: 'text', val: this.input.slice(s, end), pos: s });
  }

  /** Matches a closing delimiter at the current position, with or without its trim marker. */
  private atRightDelim(): { trim: boolean; len: number } | null {
    const { input, pos, right } = this;
    if (isSpace(input[pos] ?? '') && input.startsWith('-' + right, pos + 1))
      return { trim: true, len: 2 + right.length };
    if (input.startsWith(right, pos)) return { trim: false, len: right.length };
    return null;
  }

  private lexComment(start: number): void {
    const end = this.input.indexOf('*/', this.pos + 2);
    if (end < 0) throw new LexError('unclosed comment', start);
    this.pos = end + 2;
    const close = this.atRightDelim();
    if (!close) throw new LexError('comment ends before closing delimiter', start);
    this.pos += close.len;
    this.trimNextText = close.trim;
  }

  private lexInsideAction(start: number): void {
    const { input } = this;
    this.parenDepth = 0;
    for (;;) {
      const close = this.atRightDelim();
      if (close && this.parenDepth === 0) {
        this.tokens.push({ type: 'rightDelim', val: this.right, pos: this.pos });
        this.pos += close.len;
        this.trimNextText = close.trim;
        return;
      }
      if (close) throw new LexError('unclosed left paren', this.pos);
      if (this.pos >= input.length) throw new LexError('unclosed action', start);
      this.lexActionToken();
    }
  }

  private lexActionToken(): void {
    const { input } = this;
    const start = this.pos;
    const c = input[start]!;
    const push = (type: TokenType, end: number) => {
      this.tokens.push({ type, val: input.slice(start, end), pos: start });
      this.pos = end;
    };
    if (isSpace(c)) {
      let e = start;
      // Stop before a trim-marked closing delimiter so it is recognised.
      while (e < input.length && isSpace(input[e]!) && !input.startsWith('-' + this.right, e + 1)) e++;
      if (e === start) e++;
      return push('space', e);
    }
    switch (c) {
      case '=':
        return push('assign', start + 1);
      case ':':
        if (input[start + 1] !== '=') throw new LexError('expected :=', start);
        return push('declare', start + 2);
      case '|':
        return push('pipe', start + 1);
      case '"':
        return push('string', this.scanQuoted(start, '"'));
      case "'":
        return push('charConstant', this.scanQuoted(start, "'"));
      case '`': {
        const e = input.indexOf('`', start + 1);
        if (e < 0) throw new LexError('unterminated raw quoted string', start);
        return push('rawString', e + 1);
      }
      case '$':
        return push('variable', this.scanWord(start + 1));
      case '(':
        this.parenDepth++;
        return push('leftParen', start + 1);
      case ')':
        this.parenDepth--;
        if (this.parenDepth < 0) throw new LexError('unexpected right paren', start);
        return push('rightParen', start + 1);
      case ',':
        return push('char', start + 1);
    }
    if (c === '.') {
      if (isDigit(input[start + 1] ?? '')) return push('number', this.scanNumber(start));
      const e = this.scanWord(start + 1);
      return push(e === start + 1 ? 'dot' : 'field', e);
    }
    if (c === '+' || c === '-' || isDigit(c)) return push('number', this.scanNumber(start));
    if (isAlnum(c)) {
      const e = this.scanWord(start);
      const word = input.slice(start, e);
      if (!this.atTerminator(e)) throw new LexError(`bad character ${JSON.stringify(input[e])}`, e);
      if (KEYWORDS.has(word)) return push('keyword', e);
      if (word === 'true' || word === 'false') return push('bool', e);
      if (word === 'nil') return push('nil', e);
      return push('identifier', e);
    }
    throw new LexError(`unrecognized character in action: ${JSON.stringify(c)}`, start);
  }

  private atTerminator(p: number): boolean {
    const c = this.input[p];
    if (c === undefined || isSpace(c) || '.,|:()='.includes(c)) return true;
    return this.input.startsWith(this.right, p);
  }

  private scanWord(p: number): number {
    while (p < this.input.length && isAlnum(this.input[p]!)) p++;
    return p;
  }

  private scanQuoted(start: number, q: string): number {
    let p = start + 1;
    for (;;) {
      const c = this.input[p];
      if (c === undefined || c === '\n')
        throw new LexError(q === '"' ? 'unterminated quoted string' : 'unterminated character constant', start);
      if (c === '\\') p += 2;
      else if (c === q) return p + 1;
      else p++;
    }
  }

  private scanNumber(start: number): number {
    const m =
      /^[+-]?(0[xX][0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?([pP][+-]?[0-9_]+)?|0[oO][0-7_]+|0[bB][01_]+|[0-9_]*\.?[0-9_]*([eE][+-]?[0-9_]+)?)i?/.exec(
        this.input.slice(start, start + 200),
      );
    const e = start + (m ? m[0].length : 0);
    if (e === start || !this.atTerminator(e)) {
      throw new LexError(
        `bad number syntax: ${JSON.stringify(this.input.slice(start, Math.max(e, start + 1)))}`,
        start,
      );
    }
    return e;
  }
}
