/** Encoding, hashing, UUID and type-conversion functions, plus the lazy `can` / `try` / `convert`. */
import { createHash, randomBytes } from 'node:crypto';
import { convert, parseTypeExpr } from '../convert.js';
import { FunctionError, arg, argString, fn, type FunctionTable, type LazyFunction } from '../function-types.js';
import {
  T,
  type Type,
  type Value,
  bool,
  formatNumber,
  fromJS,
  isKnown,
  list,
  sortedKeys,
  str,
  unknown,
} from '../values.js';

/** JSON as cty writes it: object and map keys sorted, numbers in their shortest exact form. */
export function jsonEncode(v: Value): string {
  switch (v.kind) {
    case 'null':
      return 'null';
    case 'unknown':
      throw new FunctionError('value is not yet known', 0);
    case 'string':
      return JSON.stringify(v.value);
    case 'number':
      return formatNumber(v.value);
    case 'bool':
      return String(v.value);
    case 'list':
    case 'set':
    case 'tuple':
      return `[${v.items.map(jsonEncode).join(',')}]`;
    case 'map':
    case 'object': {
      const m = v.kind === 'map' ? v.entries : v.attrs;
      return `{${sortedKeys(m)
        .map((k) => `${JSON.stringify(k)}:${jsonEncode(m.get(k)!)}`)
        .join(',')}}`;
    }
  }
}

function base64Decode(s: string): string {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0)
    throw new FunctionError('failed to decode base64 data', 0);
  const bytes = Buffer.from(s, 'base64');
  const text = new TextDecoder('utf-8', { fatal: true });
  try {
    return text.decode(bytes);
  } catch {
    throw new FunctionError('the result of decoding the provided string is not valid UTF-8', 0);
  }
}

function csvDecode(s: string): Value {
  const rows = parseCSV(s);
  const [header] = rows;
  if (header === undefined) throw new FunctionError('missing header line', 0);
  const out = rows.slice(1).map((r, i) => {
    if (r.length !== header.length) throw new FunctionError(`record on line ${i + 2}: wrong number of fields`, 0);
    const attrs = new Map<string, Value>();
    header.forEach((h, j) => attrs.set(h, str(r[j] ?? '')));
    return { kind: 'object', attrs } as Value;
  });
  const attrsType: Record<string, Type> = {};
  for (const h of header) attrsType[h] = T.string;
  return list(out, T.object(attrsType));
}

/** RFC 4180 CSV: quoted fields with doubled quotes, CRLF or LF line ends. */
function parseCSV(s: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  let any = false;
  while (i < s.length) {
    const c = s[i]!;
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      any = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
      any = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && s[i + 1] === '\n') i++;
      if (any || field !== '') {
        row.push(field);
        rows.push(row);
      }
      row = [];
      field = '';
      any = false;
    } else {
      field += c;
      any = true;
    }
    i++;
  }
  if (quoted) throw new FunctionError('extraneous or missing " in quoted-field', 0);
  if (any || field !== '') {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

const hash = (alg: string) => fn(['str'], (a) => str(createHash(alg).update(argString(a, 0), 'utf8').digest('hex')));

const UUID_NS: Record<string, string> = {
  dns: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
  url: '6ba7b811-9dad-11d1-80b4-00c04fd430c8',
  oid: '6ba7b812-9dad-11d1-80b4-00c04fd430c8',
  x500: '6ba7b814-9dad-11d1-80b4-00c04fd430c8',
};

function formatUUID(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function uuidv5(namespace: string, name: string): string {
  const ns = UUID_NS[namespace] ?? namespace;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ns))
    throw new FunctionError(`uuidv5() doesn't support namespace ${namespace}`, 0);
  const digest = createHash('sha1')
    .update(Buffer.from(ns.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  const b = digest.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return formatUUID(b);
}

function converter(t: Type, name: string) {
  return fn(
    ['v'],
    (a) => {
      const r = convert(arg(a, 0), t);
      if (!r.ok) throw new FunctionError(`cannot convert to ${name}: ${r.error}`, 0);
      return r.value;
    },
    { allowNull: true },
  );
}

const can: LazyFunction = {
  lazy: true,
  params: ['expression'],
  minArgs: 1,
  maxArgs: 1,
  call(args) {
    const r = args[0]!();
    if (r.diagnostics.some((d) => d.severity === 'error')) return bool(false);
    return isKnown(r.value) ? bool(true) : unknown(T.bool);
  },
};

const tryFn: LazyFunction = {
  lazy: true,
  params: ['expressions'],
  minArgs: 1,
  maxArgs: Infinity,
  call(args) {
    const errors: string[] = [];
    for (const thunk of args) {
      const r = thunk();
      const errs = r.diagnostics.filter((d) => d.severity === 'error');
      if (errs.length === 0) return isKnown(r.value) ? r.value : unknown();
      errors.push(...errs.map((d) => `${d.summary}: ${d.detail}`));
    }
    throw new FunctionError(
      `no expression succeeded:\n- ${errors.join('\n- ')}\n\nAt least one expression must produce a successful result`,
    );
  },
};

const convertFn: LazyFunction = {
  lazy: true,
  params: ['value', 'type'],
  minArgs: 2,
  maxArgs: 2,
  call(args, info) {
    const r = args[0]!();
    if (r.diagnostics.some((d) => d.severity === 'error'))
      throw new FunctionError(r.diagnostics.map((d) => d.detail).join('; '), 0);
    const t = parseTypeExpr(info.exprs[1]!);
    const [problem] = t.diagnostics;
    if (problem !== undefined) throw new FunctionError(problem.detail, 1);
    const c = convert(r.value, t.type);
    if (!c.ok) throw new FunctionError(c.error, 0);
    return c.value;
  },
};

export interface EncodingOptions {
  /** Random bytes for uuidv4; injected so tests are deterministic. */
  randomBytes?: (n: number) => Buffer;
}

export function encodingFunctions(opts: EncodingOptions = {}): FunctionTable {
  const rnd = opts.randomBytes ?? randomBytes;
  return {
    base64encode: fn(['str'], (a) => str(Buffer.from(argString(a, 0), 'utf8').toString('base64'))),
    base64decode: fn(['str'], (a) => str(base64Decode(argString(a, 0)))),
    jsonencode: fn(['val'], (a) => str(jsonEncode(arg(a, 0))), { allowNull: true }),
    jsondecode: fn(['str'], (a) => {
      try {
        return fromJS(JSON.parse(argString(a, 0)));
      } catch (e) {
        throw new FunctionError(`invalid JSON: ${(e as Error).message}`, 0);
      }
    }),
    csvdecode: fn(['str'], (a) => csvDecode(argString(a, 0))),
    urlencode: fn(['str'], (a) =>
      str(
        encodeURIComponent(argString(a, 0))
          .replace(/%20/g, '+')
          .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()),
      ),
    ),
    md5: hash('md5'),
    sha1: hash('sha1'),
    sha256: hash('sha256'),
    sha512: hash('sha512'),
    uuidv4: fn([], () => {
      const b = Buffer.from(rnd(16));
      b[6] = (b[6]! & 0x0f) | 0x40;
      b[8] = (b[8]! & 0x3f) | 0x80;
      return str(formatUUID(b));
    }),
    uuidv5: fn(['namespace', 'name'], (a) => str(uuidv5(argString(a, 0), argString(a, 1)))),
    tobool: converter(T.bool, 'bool'),
    tonumber: converter(T.number, 'number'),
    tostring: converter(T.string, 'string'),
    tolist: converter(T.list(T.dynamic), 'list'),
    toset: converter(T.set(T.dynamic), 'set'),
    tomap: converter(T.map(T.dynamic), 'map'),
    can,
    try: tryFn,
    convert: convertFn,
  };
}
