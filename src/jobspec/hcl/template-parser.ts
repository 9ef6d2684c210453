/**
 * Quoted templates and heredocs. The text is read straight from the scanner's characters; each `${ }` or
 * `%{ }` switches back to normal tokens for its expression.
 *
 *   scan → flat pieces (text | interp | if | else | endif | for | endfor)
 *        → `<<-` flush (strip the common indentation of the lines)
 *        → `~` strip markers (trim whitespace next to the marker)
 *        → nest directives into if/for parts, merge adjacent text
 */
import type { Expression, Pos, Range, TemplateExpr, TemplatePart } from './ast.js';
import type { ExprParser } from './expr-parser.js';
import type { Token } from './lexer.js';
import { describeToken } from './token-stream.js';

type Piece =
  | { k: 'text'; value: string; start: Pos; end: Pos; bol: boolean }
  | { k: 'interp'; expr: Expression; stripL: boolean; stripR: boolean; range: Range; raw: string }
  | { k: 'if'; cond: Expression; stripL: boolean; stripR: boolean; range: Range }
  | {
      k: 'for';
      keyVar: string | null;
      valueVar: string;
      coll: Expression;
      stripL: boolean;
      stripR: boolean;
      range: Range;
    }
  | { k: 'else' | 'endif' | 'endfor'; stripL: boolean; stripR: boolean; range: Range };

const CH_NL = 10;
const CH_CR = 13;

/** The opening quote was just consumed. */
export function parseQuoted(p: ExprParser, open: Token): Expression {
  const lx = p.lx;
  const pieces: Piece[] = [];
  let buf = '';
  let textStart = lx.here();
  let runFrom = lx.pos;
  const flush = (): void => {
    buf += lx.src.slice(runFrom, lx.pos);
    if (buf !== '') pieces.push({ k: 'text', value: buf, start: textStart, end: lx.here(), bol: false });
    buf = '';
  };
  const restart = (): void => {
    textStart = lx.here();
    runFrom = lx.pos;
  };
  for (;;) {
    if (p.aborted) break;
    const c = lx.peekCode();
    if (c === -1 || c === CH_NL || (c === CH_CR && lx.peekCode(1) === CH_NL)) {
      flush();
      p.error(
        'Unterminated template string',
        'No closing quote was found for this string before the end of the line.',
        p.tokRange(open),
      );
      break;
    }
    if (c === 34 /* " */) {
      flush();
      lx.advance();
      break;
    }
    if (c === 92 /* \ */) {
      buf += lx.src.slice(runFrom, lx.pos);
      buf += readEscape(p);
      runFrom = lx.pos;
      continue;
    }
    const special = readSpecial(p, pieces, flush, false);
    if (special === 'escaped') {
      runFrom = lx.pos;
      continue;
    }
    if (special === 'sequence') {
      restart();
      continue;
    }
    lx.advance();
  }
  const range = p.range(open.start, lx.here());
  const only = pieces.length === 1 ? (pieces[0] ?? null) : null;
  if (only && only.k === 'interp') {
    return p.finish({ type: 'templateWrap', wrapped: only.expr, wrapRaw: only.raw, range });
  }
  return p.finish({ type: 'template', parts: buildParts(p, pieces), range });
}

/**
 * At `$`/`%`: handles `$${`/`%%{` escapes (appends the literal to the current run and reports 'escaped'),
 * `${ }` and `%{ }` sequences (flushes text, pushes the piece, reports 'sequence'), or nothing ('none').
 */
function readSpecial(
  p: ExprParser,
  pieces: Piece[],
  flush: () => void,
  heredoc: boolean,
): 'none' | 'escaped' | 'sequence' {
  const lx = p.lx;
  const c = lx.peekCode();
  if (c !== 36 /* $ */ && c !== 37 /* % */) return 'none';
  const c1 = lx.peekCode(1);
  if (c1 === c && lx.peekCode(2) === 123) {
    // `$${` → `${`: keep the run up to and including the first char, skip the doubled one.
    lx.advance();
    flush();
    // The `{` is merged back onto the `$`/`%` just flushed, giving a literal `${` / `%{`.
    pieces.push({ k: 'text', value: '{', start: lx.here(), end: lx.here(), bol: false });
    lx.advanceN(2);
    return 'escaped';
  }
  if (c1 !== 123 /* { */) return 'none';
  flush();
  pieces.push(c === 36 ? readInterp(p, heredoc) : readDirective(p, heredoc));
  return 'sequence';
}

function readInterp(p: ExprParser, heredoc: boolean): Piece {
  const lx = p.lx;
  const start = lx.here();
  lx.advanceN(2);
  const stripL = lx.peekCode() === 126; /* ~ */
  if (stripL) lx.advance();
  p.pushNewlines(true);
  const expr = p.parseExpression();
  const stripR = closeSequence(p, heredoc, 'interpolation');
  p.popNewlines();
  const range = p.range(start, lx.here());
  return { k: 'interp', expr, stripL, stripR, range, raw: lx.src.slice(start.offset, lx.pos) };
}

/** Reads an optional `~` and the closing `}`; on anything else reports it and skips to the brace. */
function closeSequence(p: ExprParser, heredoc: boolean, what: string): boolean {
  let strip = false;
  if (p.is('~')) {
    p.next();
    strip = true;
  }
  if (p.is('}')) {
    p.next();
    return strip;
  }
  const t = p.peek();
  p.error(
    `Extra characters after ${what}`,
    `Expected a closing brace to end the ${what}, but found ${describeToken(t)}.`,
    p.tokRange(t),
  );
  // Re-read from the bad token's start as raw characters up to the closing brace.
  p.dropPeeked();
  const lx = p.lx;
  if (lx.pos > t.start.offset) {
    lx.pos = t.start.offset;
    lx.line = t.start.line;
    lx.col = t.start.column;
  }
  for (;;) {
    const c = lx.peekCode();
    if (c === -1 || (!heredoc && (c === 34 || c === CH_NL))) break;
    lx.advance();
    if (c === 125 /* } */) break;
  }
  return strip;
}

function readDirective(p: ExprParser, heredoc: boolean): Piece {
  const lx = p.lx;
  const start = lx.here();
  lx.advanceN(2);
  const stripL = lx.peekCode() === 126;
  if (stripL) lx.advance();
  p.pushNewlines(true);
  try {
    const kw = p.peek();
    const word = kw.type === 'ident' ? kw.text : '';
    if (word === 'if') {
      p.next();
      const cond = p.parseExpression();
      const stripR = closeSequence(p, heredoc, 'template directive');
      return { k: 'if', cond, stripL, stripR, range: p.range(start, lx.here()) };
    }
    if (word === 'for') {
      p.next();
      return readForDirective(p, heredoc, start, stripL);
    }
    if (word === 'else' || word === 'endif' || word === 'endfor') {
      p.next();
      const stripR = closeSequence(p, heredoc, 'template directive');
      return { k: word, stripL, stripR, range: p.range(start, lx.here()) };
    }
    p.error(
      'Invalid template directive',
      `A template directive keyword ("if", "for", etc) is expected at the beginning of a %{ sequence; found ${describeToken(kw)}.`,
      p.tokRange(kw),
    );
    const stripR = closeSequence(p, heredoc, 'template directive');
    return { k: 'interp', expr: p.placeholder(start), stripL, stripR, range: p.range(start, lx.here()), raw: '' };
  } finally {
    p.popNewlines();
  }
}

function readForDirective(p: ExprParser, heredoc: boolean, start: Pos, stripL: boolean): Piece {
  const a = p.peek();
  let keyVar: string | null = null;
  let valueVar = '';
  if (a.type === 'ident') {
    p.next();
    valueVar = a.text;
    if (p.is(',')) {
      p.next();
      const b = p.peek();
      if (b.type === 'ident') {
        p.next();
        keyVar = a.text;
        valueVar = b.text;
      }
    }
  }
  let coll: Expression;
  if (valueVar === '' || !p.isKeyword('in')) {
    const t = p.peek();
    p.error(
      'Invalid template for directive',
      `Expected "for", one or two identifiers, "in" and a collection; found ${describeToken(t)}.`,
      p.tokRange(t),
    );
    coll = p.placeholder(start);
  } else {
    p.next();
    coll = p.parseExpression();
  }
  const stripR = closeSequence(p, heredoc, 'template directive');
  return { k: 'for', keyVar, valueVar, coll, stripL, stripR, range: p.range(start, p.lx.here()) };
}

function readEscape(p: ExprParser): string {
  const lx = p.lx;
  const start = lx.here();
  lx.advance();
  const c = lx.peekCode();
  const simple: Record<number, string> = { 110: '\n', 116: '\t', 114: '\r', 34: '"', 92: '\\' };
  const escaped = simple[c];
  if (escaped !== undefined) {
    lx.advance();
    return escaped;
  }
  if (c === 117 /* u */ || c === 85 /* U */) {
    const n = c === 117 ? 4 : 8;
    const hex = lx.src.slice(lx.pos + 1, lx.pos + 1 + n);
    if (hex.length === n && /^[0-9a-fA-F]+$/.test(hex)) {
      const cp = parseInt(hex, 16);
      lx.advanceN(n + 1);
      if (cp <= 0x10ffff) return String.fromCodePoint(cp);
    }
  }
  const bad = c === -1 || c === CH_NL ? '' : String.fromCharCode(c);
  if (bad !== '') lx.advance();
  p.error(
    'Invalid escape sequence',
    `The symbol ${JSON.stringify(bad)} is not a valid escape sequence selector; use \\n \\t \\r \\" \\\\ \\uNNNN or \\UNNNNNNNN.`,
    p.range(start, lx.here()),
  );
  return bad;
}

/** The `<<EOT` / `<<-EOT` token (through its newline) was just consumed. */
export function parseHeredoc(p: ExprParser, open: Token): Expression {
  const lx = p.lx;
  const marker = open.text;
  const pieces: Piece[] = [];
  let closed = false;
  let bol = true;
  let buf = '';
  let textStart = lx.here();
  let runFrom = lx.pos;
  const flush = (): void => {
    buf += lx.src.slice(runFrom, lx.pos);
    if (buf !== '' || bol) pieces.push({ k: 'text', value: buf, start: textStart, end: lx.here(), bol });
    buf = '';
    bol = false;
  };
  while (!p.aborted) {
    if (bol && atClosingMarker(p, marker)) {
      closed = true;
      break;
    }
    const c = lx.peekCode();
    if (c === -1) {
      flush();
      break;
    }
    if (c === CH_NL) {
      lx.advance();
      flush();
      bol = true;
      textStart = lx.here();
      runFrom = lx.pos;
      continue;
    }
    const special = readSpecial(p, pieces, flush, true);
    if (special !== 'none') {
      textStart = lx.here();
      runFrom = lx.pos;
      continue;
    }
    lx.advance();
  }
  if (!closed) {
    p.error(
      'Unterminated template string',
      `No closing marker "${marker}" was found for this heredoc before the end of the file.`,
      p.tokRange(open),
    );
  }
  const range = p.range(open.start, lx.here());
  if (open.indented) flushIndent(pieces);
  const template: TemplateExpr = p.finish({ type: 'template', parts: buildParts(p, pieces), range });
  return p.finish({ type: 'heredoc', indented: open.indented === true, marker, template, range });
}

/** At a line start: is this line only (indentation +) the marker? If so, consume it (not its newline). */
function atClosingMarker(p: ExprParser, marker: string): boolean {
  const src = p.lx.src;
  let i = p.lx.pos;
  while (src.charCodeAt(i) === 32 || src.charCodeAt(i) === 9) i++;
  if (!src.startsWith(marker, i)) return false;
  const after = i + marker.length;
  const c = src.charCodeAt(after);
  if (!(after >= src.length || c === CH_NL || (c === CH_CR && src.charCodeAt(after + 1) === CH_NL))) return false;
  p.lx.advanceN(after - p.lx.pos);
  return true;
}

/** `<<-`: remove the smallest indentation of the non-blank lines from every line. */
function flushIndent(pieces: Piece[]): void {
  let min = Infinity;
  for (const [i, pc] of pieces.entries()) {
    if (pc.k !== 'text' || !pc.bol) continue;
    const ws = leadingSpace(pc.value);
    const blankLine = ws === pc.value.length || (ws === pc.value.length - 1 && pc.value.endsWith('\n'));
    const following = pieces[i + 1];
    const lineGoesOn = following !== undefined && following.k !== 'text';
    if (blankLine && !lineGoesOn) continue;
    min = Math.min(min, ws);
  }
  if (min === Infinity || min === 0) return;
  for (const pc of pieces) {
    if (pc.k === 'text' && pc.bol) pc.value = pc.value.slice(Math.min(min, leadingSpace(pc.value)));
  }
}

function leadingSpace(s: string): number {
  let n = 0;
  while (n < s.length && (s.charCodeAt(n) === 32 || s.charCodeAt(n) === 9)) n++;
  return n;
}

/** Merges adjacent text pieces (lines, escapes), then trims whitespace beside `~` markers. */
function applyStrip(input: Piece[]): Piece[] {
  const pieces: Piece[] = [];
  for (const pc of input) {
    const last = pieces[pieces.length - 1];
    if (pc.k === 'text' && last && last.k === 'text') {
      pieces[pieces.length - 1] = { ...last, value: last.value + pc.value, end: pc.end };
    } else {
      pieces.push(pc);
    }
  }
  for (const [i, pc] of pieces.entries()) {
    if (pc.k === 'text') continue;
    const prev = pieces[i - 1];
    if (pc.stripL && prev && prev.k === 'text') prev.value = prev.value.replace(/\s+$/u, '');
    const next = pieces[i + 1];
    if (pc.stripR && next && next.k === 'text') next.value = next.value.replace(/^\s+/u, '');
  }
  return pieces;
}

interface Frame {
  kind: 'root' | 'if' | 'else' | 'for';
  parts: TemplatePart[];
  node?: Extract<TemplatePart, { type: 'if' | 'for' }>;
  opener?: Range;
}

function buildParts(p: ExprParser, flat: Piece[]): TemplatePart[] {
  const pieces = applyStrip(flat);
  const root: Frame = { kind: 'root', parts: [] };
  const stack: Frame[] = [root];
  const top = (): Frame => stack[stack.length - 1]!;
  for (const pc of pieces) {
    const f = top();
    switch (pc.k) {
      case 'text':
        pushText(f.parts, pc.value, { filename: p.filename, start: pc.start, end: pc.end });
        break;
      case 'interp':
        f.parts.push({
          type: 'interp',
          expr: pc.expr,
          stripLeft: pc.stripL,
          stripRight: pc.stripR,
          range: pc.range,
          raw: pc.raw,
        });
        break;
      case 'if': {
        const node: TemplatePart = { type: 'if', cond: pc.cond, then: [], else: null, range: pc.range };
        f.parts.push(node);
        stack.push({ kind: 'if', parts: node.then, node, opener: pc.range });
        break;
      }
      case 'for': {
        const node: TemplatePart = {
          type: 'for',
          keyVar: pc.keyVar,
          valueVar: pc.valueVar,
          coll: pc.coll,
          body: [],
          range: pc.range,
        };
        f.parts.push(node);
        stack.push({ kind: 'for', parts: node.body, node, opener: pc.range });
        break;
      }
      case 'else':
        if (f.kind === 'if' && f.node?.type === 'if') {
          f.node.else = [];
          f.parts = f.node.else;
          f.kind = 'else';
        } else {
          p.error(
            'Unexpected "else" directive',
            'An "else" clause may only appear inside an "if" directive, once.',
            pc.range,
          );
        }
        break;
      case 'endif':
      case 'endfor': {
        const want = pc.k === 'endif' ? ['if', 'else'] : ['for'];
        if (want.includes(f.kind) && f.node) {
          f.node.range = { ...f.node.range, end: pc.range.end };
          stack.pop();
        } else {
          p.error(
            `Unexpected "${pc.k}" directive`,
            `There is no open "${pc.k === 'endif' ? 'if' : 'for'}" directive for this "${pc.k}" to close.`,
            pc.range,
          );
        }
        break;
      }
    }
  }
  for (const f of stack.slice(1).reverse()) {
    const kw = f.kind === 'for' ? 'endfor' : 'endif';
    p.error(
      'Unterminated template directive',
      `There is no "${kw}" to close this "${f.kind === 'else' ? 'if' : f.kind}" directive.`,
      f.opener!,
    );
  }
  return root.parts;
}

/** Appends text, merging with a preceding text part (escapes and line pieces arrive split). */
function pushText(parts: TemplatePart[], value: string, range: Range): void {
  const last = parts[parts.length - 1];
  if (last && last.type === 'text') {
    last.value += value;
    last.range = { ...last.range, end: range.end };
    return;
  }
  if (value !== '') parts.push({ type: 'text', value, range });
}
