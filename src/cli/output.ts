/**
 * The one way commands write: human text (tables and `Key = value` blocks like nomad's) or, with `-json`,
 * the API's JSON. Commands never touch stdout/stderr directly, so tests capture everything.
 */
import { formatKV, formatTable } from './format.js';

export interface Writable {
  write(chunk: string | Uint8Array): unknown;
}

export interface Output {
  /** True when `-json` was given: commands print `json(...)` instead of text. */
  readonly json: boolean;
  /** Lines to stdout. */
  line(text?: string): void;
  /** Raw text to stdout, as is (log streams). */
  raw(text: string): void;
  /** Bytes to stdout or stderr, as is (`alloc exec`); absent in test outputs, which take `raw` text instead. */
  bytes?(stream: 'stdout' | 'stderr', data: Uint8Array): void;
  /** A line to stderr (errors, warnings). */
  error(text: string): void;
  /** A table; the first row is the header. Nothing is printed for no rows. */
  table(rows: string[][]): void;
  kv(pairs: [string, string][]): void;
  /** A section: a blank line, then the title (if any), then the body. */
  section(title: string, body: string): void;
  /** Pretty JSON to stdout. */
  printJSON(value: unknown): void;
  /** A command's result: the value as JSON with `-json`, else the text (called only then) as a line. */
  result(value: unknown, text: () => string): void;
  /**
   * A list command's output, as nomad's: the items as JSON with `-json`, else the `empty` line when there are
   * none, else the table `rows` makes of them (header first).
   */
  list<T>(items: T[], empty: string, rows: (items: T[]) => string[][]): void;
}

export function createOutput(stdout: Writable, stderr: Writable, json = false): Output {
  const out: Output = {
    json,
    line(text = '') {
      stdout.write(`${text}\n`);
    },
    raw(text) {
      stdout.write(text);
    },
    bytes(stream, data) {
      (stream === 'stdout' ? stdout : stderr).write(data);
    },
    error(text) {
      stderr.write(`${text}\n`);
    },
    table(rows) {
      if (rows.length > 0) out.line(formatTable(rows));
    },
    kv(pairs) {
      if (pairs.length > 0) out.line(formatKV(pairs));
    },
    section(title, body) {
      out.line();
      if (title) out.line(title);
      if (body) out.line(body);
    },
    printJSON(value) {
      stdout.write(`${JSON.stringify(value, null, 4)}\n`);
    },
    result(value, text) {
      if (json) out.printJSON(value);
      else out.line(text());
    },
    list(items, empty, rows) {
      if (json) out.printJSON(items);
      else if (items.length === 0) out.line(empty);
      else out.table(rows(items));
    },
  };
  return out;
}

/** An output that keeps what is written, for tests. */
export function memoryOutput(json = false): Output & { stdout: () => string; stderr: () => string } {
  let o = '';
  let e = '';
  const base = createOutput({ write: (s: string) => (o += s) }, { write: (s: string) => (e += s) }, json);
  return Object.assign(base, { stdout: () => o, stderr: () => e });
}
