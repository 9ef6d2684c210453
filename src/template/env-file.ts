/**
 * Reads a rendered template as environment variables (a template with `env = true`): `KEY=value` lines, `#`
 * comments and blank lines ignored, an optional `export ` prefix, single quotes literal, double quotes with
 * \n \t \" \\ escapes, unquoted values trimmed with a trailing ` # comment` removed.
 */
export function parseEnvFile(content: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = content.split(/\r?\n/);
  // An indexed loop: a quoted value spanning lines advances i itself.
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.search(/[=:]/);
    if (eq <= 0) throw new Error(`env file line ${i + 1}: expected KEY=value`);
    const key = line.slice(0, eq).trim();
    let raw = line.slice(eq + 1).trim();
    let value: string;
    if (raw.startsWith('"')) {
      // Double-quoted values may span lines.
      while (!/^"(?:[^"\\]|\\.)*"/.test(raw) && i + 1 < lines.length) raw += '\n' + lines[++i];
      const m = /^"((?:[^"\\]|\\.)*)"/.exec(raw);
      if (!m) throw new Error(`env file line ${i + 1}: unterminated quoted value`);
      value = m[1]!.replace(/\\(.)/g, (_a, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : c));
    } else if (raw.startsWith("'")) {
      const end = raw.indexOf("'", 1);
      if (end < 0) throw new Error(`env file line ${i + 1}: unterminated quoted value`);
      value = raw.slice(1, end);
    } else {
      value = raw.replace(/\s+#.*$/, '').trim();
    }
    out[key] = value;
  }
  return out;
}
