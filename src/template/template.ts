/**
 * A parsed template (its main tree and every {{define}}/{{block}}), its execution with the full function set,
 * and a bounded cache of parsed templates keyed by text and delimiters.
 */
import { builtinFuncs, type FuncMap, type FuncSpec } from './builtins.js';
import { DATA_FUNC_NAMES } from './funcs-data.js';
import { HELPER_FUNC_NAMES } from './funcs-helpers.js';
import { lineCol, TemplateError } from './errors.js';
import { execute, type ExecOptions, type TreeInfo } from './exec.js';
import { parseTemplate, ParseError } from './parser.js';

export interface TemplateParseOptions {
  /** Name used in error messages (Nomad uses the destination path). Default "template". */
  name?: string;
  leftDelim?: string;
  rightDelim?: string;
  /** Names of functions the caller will supply at execution besides the standard ones. */
  extraFuncNames?: Iterable<string>;
}

const STANDARD_FUNCS = new Set<string>([
  ...Object.keys(builtinFuncs),
  ...DATA_FUNC_NAMES,
  ...HELPER_FUNC_NAMES,
  'executeTemplate',
]);

export class Template {
  private constructor(
    readonly name: string,
    readonly source: string,
    readonly trees: Map<string, TreeInfo>,
  ) {}

  /** Parses `text`; throws TemplateError (phase "parse") with name, line and column on bad syntax. */
  static parse(text: string, opts: TemplateParseOptions = {}): Template {
    const name = opts.name ?? 'template';
    let funcs: { has(n: string): boolean } = STANDARD_FUNCS;
    if (opts.extraFuncNames) {
      const extra = new Set(opts.extraFuncNames);
      funcs = { has: (n) => STANDARD_FUNCS.has(n) || extra.has(n) };
    }
    try {
      const lists = parseTemplate(name, text, { leftDelim: opts.leftDelim, rightDelim: opts.rightDelim, funcs });
      const trees = new Map<string, TreeInfo>();
      for (const [n, list] of lists) trees.set(n, { list, parseName: name, source: text });
      return new Template(name, text, trees);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      const { line, column } = lineCol(text, e.pos);
      throw new TemplateError(
        'parse',
        `template: ${name}:${line}:${column}: ${e.message}`,
        { templateName: name, line, column },
        { cause: e },
      );
    }
  }

  /** Names of the templates this text defines, the main one included. */
  definedTemplates(): string[] {
    return [...this.trees.keys()];
  }

  /**
   * Renders the main template (or `opts.templateName`) against `data`. `funcs` adds to or overrides the builtins;
   * consul-template's functions come from funcs-data / funcs-helpers through the runner. Throws TemplateError.
   */
  execute(data: unknown, funcs: FuncMap = {}, opts: ExecOptions & { templateName?: string } = {}): string {
    const all: FuncMap = funcs.executeTemplate
      ? funcs
      : { ...funcs, executeTemplate: this.executeTemplateFunc(() => all, opts) };
    return execute(this.trees, opts.templateName ?? this.name, data, all, opts);
  }

  /** consul-template's `executeTemplate name [dot]`: renders a defined template to a string. */
  executeTemplateFunc(funcs: () => FuncMap, opts: ExecOptions = {}): FuncSpec {
    return {
      minArgs: 1,
      maxArgs: 2,
      fn: (name: unknown, dot?: unknown) => execute(this.trees, String(name), dot, funcs(), opts),
    };
  }
}

/** Parsed templates by (name, delimiters, text); least recently used entries are dropped past `max`. */
export class TemplateCache {
  private readonly entries = new Map<string, Template>();
  constructor(private readonly max = 256) {}

  parse(text: string, opts: TemplateParseOptions = {}): Template {
    const key = JSON.stringify([
      opts.name ?? 'template',
      opts.leftDelim ?? '',
      opts.rightDelim ?? '',
      [...(opts.extraFuncNames ?? [])].sort(),
      text,
    ]);
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const t = Template.parse(text, opts);
    this.entries.set(key, t);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return t;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The process-wide cache used by TemplateRunner unless one is given. */
export const defaultTemplateCache = new TemplateCache();
