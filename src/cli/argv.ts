/**
 * Nomad's flags are single-dash long flags (`-detach`, `-check-index=5`, `-var k=v`); commander reads those as
 * bundles of short flags. Before parsing, every `-name` or `-name=value` whose name is a known long flag is
 * rewritten to `--name`. Short flags (`-f`, `-n 5`), values and everything after `--` stay as they are.
 */

/** Rewrites single-dash long flags in `argv` (the arguments after the program name). */
export function normalizeArgv(argv: readonly string[], longFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let rest = false;
  for (const a of argv) {
    if (rest) {
      out.push(a);
      continue;
    }
    if (a === '--') {
      rest = true;
      out.push(a);
      continue;
    }
    const m = /^-([a-zA-Z][\w-]*)(=.*)?$/s.exec(a);
    if (m && m[1]!.length > 1 && longFlags.has(m[1]!)) {
      out.push(`--${m[1]}${m[2] ?? ''}`);
      continue;
    }
    out.push(a);
  }
  return out;
}

/** The long flag names in commander-style flag specs: `-n, --lines <n>` gives `lines`. */
export function longFlagNames(specs: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const s of specs) {
    for (const m of s.matchAll(/--(?:no-)?([a-zA-Z][\w-]*)/g)) {
      names.add(m[1]!);
      if (s.includes(`--no-${m[1]}`)) names.add(`no-${m[1]}`);
    }
  }
  return names;
}
