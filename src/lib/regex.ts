/**
 * The one home for matching user-supplied patterns: constraints (`regexp`), HCL's `regex*` functions, template
 * `regexMatch`/`regexReplaceAll`/`regexReplaceAllLiteral` and filter expressions.
 *
 * Why not `RegExp`: V8's engine backtracks, so `(a+)+$` against 35 `a`s and a `!` runs for minutes on the event
 * loop and the agent stops answering (even SIGTERM). Nomad, HCL and consul-template use Go's `regexp`, which is
 * RE2: linear in the input, no backreferences or lookaround. `re2js` is a pure-JS port of that engine with Go's
 * syntax (`(?i)`, `(?P<name>...)`, `\z`, `(?U)`), so patterns mean here what they mean in Nomad.
 *
 * Compiled patterns are cached (bounded), since the scheduler tests the same constraint against every node.
 */
import { RE2JS } from 're2js';

/** Longest pattern accepted, in characters. RE2 compiles in linear time too, but a bound keeps memory small. */
export const maxPatternLength = 4096;

/** A pattern that does not compile; `message` is Go's wording (`error parsing regexp: ...`). */
export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
}

/** One match: `[whole, group1, ...]` with `index` and named `groups`, as RegExpExecArray. */
export interface RegexMatch extends Array<string | undefined> {
  index: number;
  groups?: Record<string, string | undefined>;
}

/** A compiled Go (RE2) regular expression. Stateless: safe to share and reuse. */
export class GoRegexp {
  private constructor(
    readonly source: string,
    private readonly re: RE2JS,
  ) {}

  /** Compiles `pattern` with Go's syntax; throws RegexSyntaxError on a bad or oversized pattern. */
  static compile(pattern: string): GoRegexp {
    if (pattern.length > maxPatternLength) {
      throw new RegexSyntaxError(`error parsing regexp: pattern longer than ${maxPatternLength} characters`);
    }
    try {
      return new GoRegexp(pattern, RE2JS.compile(pattern));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new RegexSyntaxError(msg.startsWith('error parsing regexp') ? msg : `error parsing regexp: ${msg}`, {
        cause: e,
      });
    }
  }

  /** Names of the capture groups, in order (index 0 is the whole match, so unnamed groups are ''). */
  groupNames(): string[] {
    const names = ['' as string];
    const count = this.re.groupCount();
    for (let i = 1; i <= count; i++) names.push('');
    for (const [name, idx] of Object.entries(this.re.namedGroups() as Record<string, number>)) names[idx] = name;
    return names;
  }

  /** Does the pattern match anywhere in `s`? (Go's MatchString.) */
  test(s: string): boolean {
    return this.re.test(s);
  }

  /** The leftmost match with its groups, or null. (Go's FindStringSubmatch.) */
  exec(s: string): RegexMatch | null {
    return this.re.exec(s) as RegexMatch | null;
  }

  /**
   * Successive non-overlapping matches, at most `limit`. As Go's FindAll, an empty match right after the
   * previous match is skipped (JS and re2js's matchAll would report it).
   */
  *matchAll(s: string, limit = Number.POSITIVE_INFINITY): Generator<RegexMatch> {
    let prevEnd = -1;
    let n = 0;
    for (const m of this.re.matchAll(s) as Iterable<RegexMatch>) {
      const whole = m[0] ?? '';
      if (whole === '' && m.index === prevEnd) continue;
      prevEnd = m.index + whole.length;
      yield m;
      if (++n >= limit) return;
    }
  }

  /** Go's ReplaceAllString: `$1`, `${1}`, `$name`, `${name}` expand (longest name), `$$` is a `$`. */
  replaceAll(s: string, template: string): string {
    return this.replaceWith(s, (m) => expandTemplate(template, m, this.groupNames()));
  }

  /** Go's ReplaceAllLiteralString: `repl` is inserted as is. */
  replaceAllLiteral(s: string, repl: string): string {
    return this.replaceWith(s, () => repl);
  }

  private replaceWith(s: string, f: (m: RegexMatch) => string): string {
    let out = '';
    let last = 0;
    for (const m of this.matchAll(s)) {
      out += s.slice(last, m.index) + f(m);
      last = m.index + (m[0] ?? '').length;
    }
    return out + s.slice(last);
  }
}

const cache = new Map<string, GoRegexp | RegexSyntaxError>();
const cacheLimit = 10_000;

/** compile() with a bounded cache; a bad pattern's error is cached too, and thrown again. */
export function compileGoRegexp(pattern: string): GoRegexp {
  let hit = cache.get(pattern);
  if (hit === undefined) {
    try {
      hit = GoRegexp.compile(pattern);
    } catch (e) {
      if (!(e instanceof RegexSyntaxError)) throw e;
      hit = e;
    }
    if (cache.size >= cacheLimit) cache.clear();
    cache.set(pattern, hit);
  }
  if (hit instanceof RegexSyntaxError) throw hit;
  return hit;
}

/** The compile error of `pattern` as Go words it, or undefined when it compiles. */
export function regexSyntaxError(pattern: string): string | undefined {
  try {
    compileGoRegexp(pattern);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** True when `pattern` compiles and matches somewhere in `s`; a bad pattern simply does not match. */
export function regexMatches(pattern: string, s: string): boolean {
  try {
    return compileGoRegexp(pattern).test(s);
  } catch {
    return false;
  }
}

/** Go's Regexp.Expand over one match. */
function expandTemplate(template: string, m: RegexMatch, names: readonly string[]): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf('$', i);
    if (dollar < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, dollar);
    i = dollar + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string | undefined;
    if (template[i] === '{') {
      const close = template.indexOf('}', i);
      const inner = close < 0 ? '' : template.slice(i + 1, close);
      if (close >= 0 && /^\w+$/.test(inner)) {
        name = inner;
        i = close + 1;
      }
    } else {
      const word = /^\w+/.exec(template.slice(i))?.[0];
      if (word) {
        name = word;
        i += word.length;
      }
    }
    if (name === undefined) {
      // A malformed reference is copied through, as Go does.
      out += '$';
      continue;
    }
    if (/^\d+$/.test(name)) {
      const n = Number(name);
      out += n < m.length ? (m[n] ?? '') : '';
    } else {
      const idx = names.indexOf(name);
      out += idx > 0 ? (m[idx] ?? '') : '';
    }
  }
  return out;
}
