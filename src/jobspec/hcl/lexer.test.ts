import { describe, expect, it } from 'vitest';
import { Lexer, type Token } from './lexer.js';

function lex(src: string): Token[] {
  const lx = new Lexer(src, 'l.hcl');
  const out: Token[] = [];
  for (let i = 0; i < 1000; i++) {
    const t = lx.next();
    out.push(t);
    if (t.type === 'eof') break;
  }
  return out;
}

const kinds = (src: string): string[] =>
  lex(src).map((t) => (t.type === 'ident' || t.type === 'number' ? `${t.type}:${t.text}` : t.type));

describe('Lexer', () => {
  it('reads every operator, longest first', () => {
    expect(
      kinds('== != <= >= && || => ... < > = ! + - * / % ? : , . ~ { } [ ] ( )').filter((k) => k !== 'eof'),
    ).toEqual([
      '==',
      '!=',
      '<=',
      '>=',
      '&&',
      '||',
      '=>',
      '...',
      '<',
      '>',
      '=',
      '!',
      '+',
      '-',
      '*',
      '/',
      '%',
      '?',
      ':',
      ',',
      '.',
      '~',
      '{',
      '}',
      '[',
      ']',
      '(',
      ')',
    ]);
  });

  it('reads identifiers with dashes and numbers with fractions and exponents', () => {
    expect(kinds('dev-us-east1 _x 12 3.25 1e9 2E-3 7.')).toEqual([
      'ident:dev-us-east1',
      'ident:_x',
      'number:12',
      'number:3.25',
      'number:1e9',
      'number:2E-3',
      'number:7',
      '.',
      'eof',
    ]);
  });

  it('emits newlines but drops comments, keeping line and column', () => {
    const toks = lex('a # c\n/* multi\nline */ b // d\r\nc');
    expect(toks.map((t) => t.type)).toEqual(['ident', 'nl', 'ident', 'nl', 'ident', 'eof']);
    expect(toks[2]?.start).toEqual({ line: 3, column: 9, offset: 23 });
    expect(toks[4]?.start).toMatchObject({ line: 4, column: 1 });
  });

  it('recognises heredoc openers only when the marker ends the line', () => {
    const h = lex('<<-EOT\nbody');
    expect(h[0]).toMatchObject({ type: 'heredoc', text: 'EOT', indented: true });
    expect(kinds('a << b')).toEqual(['ident:a', '<', '<', 'ident:b', 'eof']);
  });

  it('reports a stray character as one invalid token, even outside the BMP', () => {
    expect(lex('@\u{1F600}').map((t) => [t.type, t.text])).toEqual([
      ['invalid', '@'],
      ['invalid', '\u{1F600}'],
      ['eof', ''],
    ]);
  });
});
