/** Go's string and rune literal decoding (strconv.Unquote), for template constants. */

const SIMPLE: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
};

/** Decodes a Go interpreted ("..."), raw (`...`) or rune ('x') literal; throws on bad syntax. */
export function unquote(lit: string): string {
  const q = lit[0];
  if (lit.length < 2 || lit[lit.length - 1] !== q) throw new Error('invalid syntax');
  const body = lit.slice(1, -1);
  if (q === '`') return body.replace(/\r/g, '');
  if (q !== '"' && q !== "'") throw new Error('invalid syntax');
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      if (c === q) throw new Error('invalid syntax');
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === undefined) throw new Error('invalid syntax');
    if (e in SIMPLE) {
      if ((e === "'" && q === '"') || (e === '"' && q === "'")) throw new Error('invalid syntax');
      out += SIMPLE[e];
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw new Error('invalid syntax');
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) throw new Error('invalid syntax');
      out += e === 'x' ? String.fromCharCode(code) : String.fromCodePoint(code);
      i += n;
    } else if (e >= '0' && e <= '7') {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct)) throw new Error('invalid syntax');
      out += String.fromCharCode(parseInt(oct, 8));
      i += 2;
    } else throw new Error('invalid syntax');
  }
  if (q === "'" && [...out].length !== 1) throw new Error('invalid syntax');
  return out;
}

/** Parses a Go number literal as the template parser does: ints (dec, hex, octal, binary, with `_`) and floats. */
export function parseGoNumber(text: string): { value: number; isFloat: boolean } {
  let t = text.replace(/_/g, '');
  if (t.endsWith('i')) throw new Error(`complex constants are not supported: ${text}`);
  let sign = 1;
  if (t[0] === '+' || t[0] === '-') {
    if (t[0] === '-') sign = -1;
    t = t.slice(1);
  }
  if (t === '') throw new Error(`illegal number syntax: ${JSON.stringify(text)}`);
  let v: number;
  let isFloat = false;
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) v = parseInt(t.slice(2), 16);
  else if (/^0[oO][0-7]+$/.test(t)) v = parseInt(t.slice(2), 8);
  else if (/^0[bB][01]+$/.test(t)) v = parseInt(t.slice(2), 2);
  else if (/^0[0-7]+$/.test(t)) v = parseInt(t.slice(1), 8);
  else if (/^[0-9]+$/.test(t)) v = parseInt(t, 10);
  else if (/^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(t)) {
    v = parseFloat(t);
    isFloat = true;
  } else throw new Error(`illegal number syntax: ${JSON.stringify(text)}`);
  return { value: sign * v, isFloat };
}
