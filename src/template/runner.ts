/**
 * Renders a template against a TemplateData snapshot and reports what it read. Missing data is consul-template's
 * multi-phase rendering: a lookup whose data is not loaded yet yields a placeholder and marks the render
 * incomplete; `renderComplete` loads what was missing and renders again until nothing is missing.
 */
import type { Template as TemplateSpec } from '../structs/index.js';
import { type FuncMap } from './builtins.js';
import { dependencyKey, type Dependency, type TemplateData, type TemplateDataLoader } from './data.js';
import { TemplateError } from './errors.js';
import { dataFuncs, type RenderContext } from './funcs-data.js';
import { helperFuncs, Scratch } from './funcs-helpers.js';
import { defaultTemplateCache, type TemplateCache, Template } from './template.js';

export interface TemplateRunnerConfig {
  /** Template text (a job's `data`, or the contents of `source`). */
  text: string;
  /** Name for error messages; Nomad uses the destination. */
  name?: string;
  leftDelim?: string;
  rightDelim?: string;
  /** error_on_missing_key. */
  errorOnMissingKey?: boolean;
  /** Namespace for service and variable lookups (the job's). */
  namespace?: string;
  /** Confinement for `file`: relative paths resolve from taskDir and must stay inside allocDir. */
  sandbox?: { taskDir: string; allocDir: string };
  /** Injected clock for `timestamp`. */
  now?: () => Date;
  /** Extra functions, available to this template only. */
  funcs?: FuncMap;
  cache?: TemplateCache;
}

export interface RenderResult {
  /** Rendered text; meaningful only when `complete`. */
  output: string;
  /** True when every lookup had its data and nothing blocked: the output may be written. */
  complete: boolean;
  /** Execution error (bad data for the template). Set only when no data was missing. */
  error?: TemplateError;
  /** Everything the template read, to watch for changes. */
  deps: Dependency[];
  /** Lookups whose data was not loaded yet. */
  missing: Dependency[];
  /** Lookups that wait for data to exist (`key` or `nomadVar` of an absent path). */
  blocked: Dependency[];
  /** Index of each dependency's data in the snapshot, by dependencyKey (when TemplateData.index is provided). */
  indexes: Map<string, number>;
}

/** Options for a Nomad `template` block, in the units of Drover's structs converted to milliseconds. */
export interface NomadTemplateSettings {
  leftDelim: string;
  rightDelim: string;
  errorOnMissingKey: boolean;
  splayMs: number;
  wait?: { minMs: number; maxMs: number };
  once: boolean;
  env: boolean;
  changeMode: string;
}

/** Reads the render settings of a job's template block (durations there are nanoseconds). */
export function nomadTemplateSettings(t: TemplateSpec): NomadTemplateSettings {
  const ms = (ns: number | null | undefined) => Math.round((ns ?? 0) / 1e6);
  const w = t.Wait;
  return {
    leftDelim: t.LeftDelim || '{{',
    rightDelim: t.RightDelim || '}}',
    errorOnMissingKey: !!t.ErrMissingKey,
    splayMs: ms(t.Splay),
    wait: w && (w.Min || w.Max) ? { minMs: ms(w.Min), maxMs: ms(w.Max) } : undefined,
    once: !!t.Once,
    env: !!t.Envvars,
    changeMode: t.ChangeMode || 'restart',
  };
}

export class TemplateRunner {
  readonly template: Template;
  private readonly funcs: FuncMap;
  private readonly execOpts: { missingKey: 'default' | 'error' };
  /** The render in progress; the function table reads it, so it is built once. */
  private current: { ctx: RenderContext; scratch: Scratch } | null = null;

  /** Parses (through the cache) now, so a bad template fails when the runner is created. */
  constructor(private readonly config: TemplateRunnerConfig) {
    const cache = config.cache ?? defaultTemplateCache;
    this.template = cache.parse(config.text, {
      name: config.name,
      leftDelim: config.leftDelim,
      rightDelim: config.rightDelim,
      extraFuncNames: config.funcs ? Object.keys(config.funcs) : undefined,
    });
    this.execOpts = { missingKey: config.errorOnMissingKey ? 'error' : 'default' };
    const cur = () => {
      if (!this.current) throw new Error('template function called outside a render');
      return this.current;
    };
    const funcs: FuncMap = {
      ...helperFuncs(config.now ?? (() => new Date()), () => cur().scratch),
      ...dataFuncs(() => cur().ctx),
      ...(config.funcs ?? {}),
    };
    funcs.executeTemplate = this.template.executeTemplateFunc(() => funcs, this.execOpts);
    this.funcs = funcs;
  }

  /** One render pass against the snapshot. Never throws for template errors: see `error`. */
  render(data: TemplateData): RenderResult {
    const ctx: RenderContext = {
      data,
      deps: new Map(),
      missing: new Map(),
      blocked: new Map(),
      namespace: this.config.namespace ?? 'default',
      sandbox: this.config.sandbox,
    };
    let output = '';
    let error: TemplateError | undefined;
    const outer = this.current;
    this.current = { ctx, scratch: new Scratch() };
    try {
      output = this.template.execute(undefined, this.funcs, this.execOpts);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      // With data still missing, placeholders may break the template (e.g. index 0 of an empty list): not an error yet.
      if (ctx.missing.size === 0) error = e;
    } finally {
      this.current = outer;
    }
    const deps = [...ctx.deps.values()];
    const indexes = new Map<string, number>();
    if (data.index) {
      for (const d of deps) {
        const ix = data.index(d);
        if (ix !== undefined) indexes.set(dependencyKey(d), ix);
      }
    }
    return {
      output,
      complete: !error && ctx.missing.size === 0 && ctx.blocked.size === 0,
      error,
      deps,
      missing: [...ctx.missing.values()],
      blocked: [...ctx.blocked.values()],
      indexes,
    };
  }

  /**
   * Renders, loading missing data between passes, until nothing is missing (or `maxPasses`: a template whose
   * lookups depend on earlier lookups needs one pass per level).
   */
  async renderComplete(
    data: TemplateData,
    loader: TemplateDataLoader | undefined,
    signal: AbortSignal,
    maxPasses = 10,
  ): Promise<RenderResult> {
    let res = this.render(data);
    for (let pass = 1; pass < maxPasses && res.missing.length > 0 && loader; pass++) {
      signal.throwIfAborted();
      await loader.load(res.missing, signal);
      res = this.render(data);
    }
    return res;
  }
}
