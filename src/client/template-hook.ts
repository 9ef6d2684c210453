/**
 * The template hook: renders a task's `template` blocks before it starts and keeps them rendered.
 *
 *   first prestart ─► one watch per template ─► every first render written (the task waits for all of them)
 *        │                                        (data absent: event "Missing: nomad.var.block(...)", still waiting)
 *        │                                        (render error, denied variable: the task fails "Template failed")
 *        ▼
 *   task starts ─► data changes (blocking queries) ─► wait{min,max} ─► new content written ─► splay ─► change_mode:
 *                    restart: "Restart Signaled" · signal: "Signaling" · script: driver exec (timeout, fail_on_error)
 *                    · noop: nothing
 *   later prestarts (restarts) reuse the running watches and hand out the latest env = true variables.
 *   agent restarted (recovered): watches start again in the background; a first render that differs from the
 *   file on disk is written and its change_mode applied (the data changed while no agent watched).
 *   stop / kill ─► every watch aborted and awaited.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Node, Task, Template } from '../structs/index.js';
import { TaskEventTypes } from '../structs/index.js';
import { DroverError } from '../errors/index.js';
import type { TaskHandle } from '../drivers/index.js';
import {
  nomadTemplateSettings,
  parseEnvFile,
  resolveConfined,
  TemplateRunner,
  watchTemplate,
  type Clock,
  type Dependency,
  type TemplateError,
} from '../template/index.js';
import type { PrestartResult, TaskHook, TaskHookContext, TaskHookFactory } from './hooks.js';
import { interpolateString } from './interpolate.js';
import type { ServerRPC } from './rpc.js';
import { RpcTemplateData } from './template-data.js';
import { taskEvent } from './task-events.js';

/** Nomad's event types for template outcomes that have no constant of their own. */
const EV_TEMPLATE = 'Template';
const EV_HOOK_MESSAGE = 'Task hook message';
/** How long re-renders are gathered before their change modes apply. */
const COALESCE_MS = 50;

export interface TemplateHookOptions {
  rpc: ServerRPC;
  /** The node as last registered, for `env "attr.*"` / `env "node.*"`. */
  node: () => Node | undefined;
  /** The allocation's directory: destinations, sources and `file` must stay inside it. */
  allocDir: (allocID: string) => string;
  now: () => number;
  clock?: Clock;
  rng?: () => number;
  /** Longest hold of one blocking query. */
  waitMs?: number;
}

/** The hook for tasks that have templates; none for the others. */
export function templateHookFactory(o: TemplateHookOptions): TaskHookFactory {
  return ({ task }) => ((task.Templates ?? []).length > 0 ? [new TemplateHook(o, task)] : []);
}

interface Watch {
  spec: Template;
  dest: string;
  env: Record<string, string>;
}

export class TemplateHook implements TaskHook {
  readonly name = 'template';
  private started = false;
  private ctx: TaskHookContext | undefined;
  private data: RpcTemplateData | undefined;
  private taskID: string | undefined;
  private readonly watches: Watch[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly stopCtl = new AbortController();
  private pending: Template[] = [];
  /** Started by `recovered`: the task already runs with files rendered by the previous agent. */
  private restored = false;
  private recovering: Promise<void> | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly options: TemplateHookOptions,
    private readonly task: Task,
  ) {}

  async prestart(ctx: TaskHookContext): Promise<PrestartResult> {
    this.ctx = ctx;
    this.data?.setEnv(ctx.env);
    if (!this.started) {
      this.started = true;
      await this.start(ctx);
    }
    return { env: Object.assign({}, ...this.watches.map((w) => w.env)) as Record<string, string> };
  }

  async poststart(_ctx: TaskHookContext, handle: TaskHandle): Promise<void> {
    this.taskID = handle.config.id;
  }

  /**
   * The agent restarted and re-attached to the running task: watch again without holding the task (it runs).
   * A first render that differs from the file on disk means the data changed while the agent was away, so it
   * is written and its change_mode applied.
   */
  async recovered(ctx: TaskHookContext, handle: TaskHandle): Promise<void> {
    this.taskID = handle.config.id;
    this.ctx = ctx;
    if (this.started) return;
    this.started = true;
    this.restored = true;
    // Not in `running`: a failed start awaits everything in there, and would wait for itself.
    this.recovering = this.start(ctx).catch((e: unknown) =>
      ctx.logger.warn('templates could not be watched after recovery', { err: String(e) }),
    );
  }

  async stop(): Promise<void> {
    this.stopCtl.abort(new DroverError('Aborted', 'task stopped'));
    await this.recovering;
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  private async start(ctx: TaskHookContext): Promise<void> {
    const { alloc } = ctx;
    // Its own controller, so a failed first render stops the watches already started before it fails the task.
    const startCtl = new AbortController();
    const signal = AbortSignal.any([ctx.signal, this.stopCtl.signal, startCtl.signal]);
    const allocDir = this.options.allocDir(alloc.ID);
    // With ACLs on, a remote server answers the task's reads only with the task's own identity.
    const identity = alloc.SignedIdentities?.[this.task.Name];
    const rpc = this.options.rpc as ServerRPC & { withToken?(token: string): ServerRPC };
    this.data = new RpcTemplateData({
      rpc: identity && rpc.withToken ? rpc.withToken(identity) : rpc,
      identity: { namespace: alloc.Namespace, jobID: alloc.JobID, group: alloc.TaskGroup, task: this.task.Name },
      env: ctx.env,
      node: this.options.node(),
      waitMs: this.options.waitMs,
    });
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    try {
      const firsts = (this.task.Templates ?? []).map((spec) => this.startOne(ctx, spec, allocDir, signal));
      await Promise.race([Promise.all(firsts), aborted]);
    } catch (e) {
      startCtl.abort(e);
      while (this.running.size > 0) await Promise.all([...this.running]);
      this.watches.length = 0;
      this.started = false;
      if (e instanceof DroverError) throw e;
      throw new DroverError('BadRequest', `Template failed: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
  }

  /** Starts one template's watch; resolves after its first render is written. */
  private startOne(ctx: TaskHookContext, spec: Template, allocDir: string, signal: AbortSignal): Promise<void> {
    const taskDir = ctx.dirs.dir;
    const dest = resolveConfined(allocDir, taskDir, interpolateString(spec.DestPath, ctx.interpolation));
    const settings = nomadTemplateSettings(spec);
    const text =
      spec.EmbeddedTmpl ||
      readFileSync(resolveConfined(allocDir, taskDir, interpolateString(spec.SourcePath, ctx.interpolation)), 'utf8');
    const runner = new TemplateRunner({
      text,
      name: spec.DestPath,
      leftDelim: settings.leftDelim,
      rightDelim: settings.rightDelim,
      errorOnMissingKey: settings.errorOnMissingKey,
      namespace: ctx.alloc.Namespace,
      sandbox: { taskDir, allocDir },
    });
    const w: Watch = { spec, dest, env: {} };
    this.watches.push(w);
    let firstDone = false;
    let resolveFirst!: () => void;
    let rejectFirst!: (e: unknown) => void;
    const first = new Promise<void>((res, rej) => ((resolveFirst = res), (rejectFirst = rej)));
    let lastMissing = '';
    const p = watchTemplate({
      runner,
      data: this.data!,
      loader: this.data!,
      waitForChange: this.data!.waitForChange,
      wait: settings.wait,
      // Splay spreads change_mode actions across instances; a noop template has none, so it must not wait.
      splayMs: (spec.ChangeMode || 'restart') === 'noop' ? 0 : settings.splayMs,
      once: settings.once,
      clock: this.options.clock,
      rng: this.options.rng,
      signal,
      onRender: (content, { initial }) => {
        const stale = initial && this.restored && readIfExists(w.dest) !== content;
        if (!initial || !this.restored || stale) this.write(w, content, settings.env);
        else if (settings.env) w.env = parseEnvFile(content);
        if (stale) void this.queueChange(spec);
        if (initial) {
          firstDone = true;
          resolveFirst();
        }
      },
      onChange: () => this.queueChange(spec),
      onError: (err, { initial }) => this.failed(err, initial && !firstDone, rejectFirst),
      onBlocked: (deps) => {
        const msg = `Missing: ${deps.map(describeDependency).join(', ')}`;
        if (msg !== lastMissing) this.event(EV_TEMPLATE, { Message: msg });
        lastMissing = msg;
      },
    });
    const tracked = p
      .catch((e: unknown) => {
        if (!firstDone) rejectFirst(e);
        else ctx.logger.warn('template watch ended', { dest: spec.DestPath, err: String(e) });
      })
      .finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    return first;
  }

  /** Writes through a temporary file and a rename, so a reader never sees half a file. */
  private write(w: Watch, content: string, env: boolean): void {
    mkdirSync(dirname(w.dest), { recursive: true });
    const mode = parseInt(w.spec.Perms || '644', 8);
    const tmp = `${w.dest}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, w.dest);
    if (env) w.env = parseEnvFile(content);
  }

  private failed(err: TemplateError, beforeStart: boolean, rejectFirst: (e: unknown) => void): void {
    const message = `Template failed: ${err.message}`;
    if (beforeStart) {
      rejectFirst(new DroverError('BadRequest', message, { cause: err }));
      return;
    }
    // Nomad kills the task when a template it already rendered cannot render any more.
    const ctx = this.ctx;
    if (ctx)
      void ctx
        .kill(message)
        .catch((e: unknown) => ctx.logger.warn('kill after template failure failed', { err: String(e) }));
  }

  /**
   * Templates reading the same data wake together: their change modes are applied once per batch, as Nomad's
   * template manager does (one restart wins over signals; each distinct signal is sent once; every script runs).
   */
  private queueChange(spec: Template): Promise<void> {
    this.pending.push(spec);
    this.flushing ??= new Promise<void>((r) => setTimeout(r, COALESCE_MS)).then(() => this.flush());
    return this.flushing;
  }

  private async flush(): Promise<void> {
    const specs = this.pending.splice(0);
    this.flushing = undefined;
    const ctx = this.ctx;
    if (!ctx || specs.length === 0) return;
    const mode = (t: Template) => t.ChangeMode || 'restart';
    try {
      if (specs.some((t) => mode(t) === 'restart'))
        return await ctx.restart('Template with change_mode restart re-rendered');
      for (const sig of new Set(specs.filter((t) => mode(t) === 'signal').map((t) => t.ChangeSignal || 'SIGHUP'))) {
        await ctx.signalTask(sig, 'Template re-rendered');
      }
      for (const t of specs.filter((x) => mode(x) === 'script')) await this.runScript(ctx, t);
    } catch (e) {
      ctx.logger.warn('template change_mode failed', { modes: specs.map(mode).join(','), err: String(e) });
    }
  }

  private async runScript(ctx: TaskHookContext, spec: Template): Promise<void> {
    const s = spec.ChangeScript;
    if (!s?.Command || !this.taskID) return;
    const args = s.Args ?? [];
    const timeoutMs = s.Timeout ? Math.round(s.Timeout / 1e6) : 5_000;
    let failure: string | undefined;
    try {
      const res = await ctx.driver.execTask(this.taskID, [s.Command, ...args], timeoutMs);
      if (res.exitCode === 0) {
        this.event(EV_HOOK_MESSAGE, {
          Message: `Template successfully ran script ${s.Command} with arguments: [${args.join(' ')}]. Exit code: 0`,
        });
        return;
      }
      failure = `Exit code: ${res.exitCode}`;
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
    }
    const message = `Template failed to run script ${s.Command} with arguments [${args.join(' ')}] on change: ${failure}`;
    if (s.FailOnError) await ctx.kill(message);
    else this.event(TaskEventTypes.HookFailed, { Message: message });
  }

  private event(type: string, extra: { Message: string }): void {
    this.ctx?.emitEvent(taskEvent(type, this.options.now(), extra));
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** consul-template's names for what a template waits on, as Nomad shows them in task events. */
function describeDependency(d: Dependency): string {
  switch (d.kind) {
    case 'var':
      return `nomad.var.block(${d.path}@${d.namespace})`;
    case 'varList':
      return `nomad.var.list(${d.prefix}@${d.namespace})`;
    case 'service':
      return `nomad.service(${d.tag ? `${d.tag}.` : ''}${d.name})`;
    case 'services':
      return 'nomad.services';
    case 'kv':
      return `kv.block(${d.path})`;
    case 'nodes':
      return `catalog.nodes(${d.dc ? `@${d.dc}` : ''})`;
    case 'kvList':
      return `kv.list(${d.prefix})`;
    case 'file':
      return `file(${d.path})`;
  }
}
