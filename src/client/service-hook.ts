/**
 * Services on the client: registers an allocation's service instances in the catalog while their tasks run,
 * runs their checks, and takes them out of the catalog before the tasks are killed.
 *
 *   task services (TaskHook):   poststart / recovered ─► register + checks
 *                               exited ─► deregister (a restart registers again at poststart)
 *                               preKill ─► deregister, then the task runner waits the task's shutdown_delay
 *   group services (AllocHook): running (every main task started, or adopted after an agent restart)
 *                                 ─► register + checks
 *                               preKill ─► deregister, wait the group's shutdown_delay ─► tasks are killed
 *   agent shutdown: checks stop, registrations stay (the next agent process registers the same IDs again).
 *
 * Addresses are the host's (the agent's advertise IP and the allocated host port): a driver's bridge address is
 * never registered, since nothing outside the host could reach it.
 */
import type { Allocation, Node, TaskGroup } from '../structs/index.js';
import type { TaskHandle } from '../drivers/index.js';
import {
  buildServiceWorkloads,
  deploymentHealthy,
  ServiceRegistrar,
  type AllocCheckStatus,
  type Clock,
  type Probe,
  type ScriptExec,
  type ServiceWorkload,
} from '../discovery/index.js';
import type { Logger } from '../logging/index.js';
import type {
  AllocHook,
  AllocHookContext,
  AllocHookFactory,
  TaskHook,
  TaskHookContext,
  TaskHookFactory,
} from './hooks.js';
import type { ServerRPC } from './rpc.js';
import type { CheckStatusSource } from './alloc-health.js';
import { interpolateString, type InterpolationContext } from './interpolate.js';
import { nomadEnv } from './task-env.js';
import { taskDirs } from './alloc-dir.js';
import { sleepFor } from './util.js';

export interface ClientServicesOptions {
  rpc: Pick<ServerRPC, 'upsertServiceRegistrations' | 'deleteServiceRegistrations'>;
  /** The node as registered: its ID and datacenter go into every registration. */
  node: () => Pick<Node, 'ID' | 'Datacenter'>;
  advertiseIP: string;
  logger: Logger;
  /** Tests: a manual clock and scripted probes. */
  clock?: Clock;
  probes?: Partial<Record<'http' | 'tcp' | 'grpc' | 'script', Probe>>;
  /** Backoff between failed catalog writes. */
  retryMs?: number;
}

const GROUP = '';
const NS_PER_MS = 1_000_000;

/** One registered set of instances (one task's services, or the group's), and how to stop it. */
interface Registered {
  group: string;
  registrar: ServiceRegistrar;
  ctl: AbortController;
  /** The first write and the start of the checks (retried while the server is unreachable). */
  started: Promise<void>;
}

/** Whether any service of the task (or, with `task` undefined, of the group) has a check. */
function hasChecks(group: TaskGroup, task?: string): boolean {
  const services = task === undefined ? group.Services : group.Tasks.find((t) => t.Name === task)?.Services;
  return (services ?? []).some((s) => (s.Checks ?? []).length > 0);
}

/**
 * The client's service registrations: hook factories for the alloc and task runners, and what the rest of the
 * client reads back (check statuses for the API and for deployment health).
 */
export class ClientServices {
  private readonly log: Logger;
  /** allocID → (task name, or '' for the group) → its registered instances. */
  private readonly byAlloc = new Map<string, Map<string, Registered>>();
  /** allocID → owners whose services have checks: health waits for every one of them to be registered. */
  private readonly expected = new Map<string, Set<string>>();

  constructor(private readonly options: ClientServicesOptions) {
    this.log = options.logger.child({ component: 'services' });
  }

  /** Task services: one hook per task that declares services. */
  readonly taskHooks: TaskHookFactory = ({ alloc, group, task }) => {
    if ((task.Services ?? []).length === 0) return [];
    if (hasChecks(group, task.Name)) this.expect(alloc.ID, task.Name);
    return [new TaskServiceHook(this, task.Name)];
  };

  /** Group services and the group's shutdown_delay. */
  readonly allocHooks: AllocHookFactory = ({ alloc, group }) => {
    if ((group.Services ?? []).length === 0 && !(group.ShutdownDelay && group.ShutdownDelay > 0)) return [];
    if (hasChecks(group)) this.expect(alloc.ID, GROUP);
    return [new GroupServiceHook(this)];
  };

  /** For health_check = "checks": undefined when the allocation has no checks; not passing until all are registered. */
  readonly checkStatus: CheckStatusSource = (allocID) => {
    const want = this.expected.get(allocID);
    if (!want || want.size === 0) return undefined;
    const sets = this.byAlloc.get(allocID);
    for (const owner of want) if (!sets?.has(owner)) return { passing: false };
    const checks = [...sets!.values()].flatMap((r) => r.registrar.checkHealth());
    return { passing: deploymentHealthy(checks) };
  };

  /** `GET /v1/client/allocation/:id/checks`: every check of the allocation's registered instances. */
  checkStatuses(allocID: string): Record<string, AllocCheckStatus> {
    const out: Record<string, AllocCheckStatus> = {};
    for (const r of this.byAlloc.get(allocID)?.values() ?? []) Object.assign(out, r.registrar.checkStatuses(r.group));
    return out;
  }

  /** The allocation was garbage collected. */
  forget(allocID: string): void {
    this.expected.delete(allocID);
    for (const r of this.byAlloc.get(allocID)?.values() ?? []) r.ctl.abort();
    this.byAlloc.delete(allocID);
  }

  private expect(allocID: string, owner: string): void {
    let s = this.expected.get(allocID);
    if (!s) this.expected.set(allocID, (s = new Set()));
    s.add(owner);
  }

  /**
   * Registers `owner`'s instances (replacing any earlier set of the same owner, whose instances that are gone
   * leave the catalog) and starts their checks; `signal` stops the checks without deregistering. Resolves once
   * the registration is under way: a server that cannot be reached must not hold up the task runner (the
   * registrar retries the write until it lands or the set is stopped).
   */
  async register(args: {
    alloc: Allocation;
    owner: string;
    workloads: ServiceWorkload[];
    exec: (task: string) => ScriptExec | undefined;
    restart: (task: string, reason: string) => Promise<void>;
    signal?: AbortSignal;
  }): Promise<void> {
    const { alloc, owner } = args;
    const previous = this.byAlloc.get(alloc.ID)?.get(owner);
    if (previous) {
      previous.ctl.abort();
      await previous.started;
      const keep = new Set(args.workloads.map((w) => w.registration.ID));
      const gone = previous.registrar
        .registrations()
        .map((r) => r.ID)
        .filter((id) => !keep.has(id));
      if (gone.length > 0) await this.delete(gone);
    }
    const ctl = new AbortController();
    args.signal?.addEventListener('abort', () => ctl.abort(args.signal!.reason), { once: true });
    const registrar = new ServiceRegistrar({
      workloads: args.workloads,
      writer: { upsert: (regs) => this.upsert(regs), delete: (ids) => this.delete(ids) },
      exec: args.exec,
      onRestartNeeded: (task, req) => {
        // Nomad formats the name with Go's %q: quoted, inner quotes escaped.
        const reason = `healthcheck: check ${JSON.stringify(req.checkName)} unhealthy`;
        this.log.info('restarting task: check unhealthy', { alloc_id: alloc.ID, task, check: req.checkName });
        void args
          .restart(task, reason)
          .catch((e: unknown) => this.log.warn('check_restart failed', { alloc_id: alloc.ID, task, err: String(e) }));
      },
      clock: this.options.clock,
      logger: this.log.child({ alloc_id: alloc.ID }),
      probes: this.options.probes,
      retryMs: this.options.retryMs,
    });
    let sets = this.byAlloc.get(alloc.ID);
    if (!sets) this.byAlloc.set(alloc.ID, (sets = new Map()));
    const started = registrar
      .start(ctl.signal)
      .catch((e: unknown) => this.log.warn('service registration failed', { alloc_id: alloc.ID, err: String(e) }));
    sets.set(owner, { group: alloc.TaskGroup, registrar, ctl, started });
  }

  /** Takes `owner`'s instances out of the catalog, then waits `delayMs` (shutdown_delay). */
  async deregister(allocID: string, owner: string, delayMs = 0, signal?: AbortSignal): Promise<void> {
    const sets = this.byAlloc.get(allocID);
    const r = sets?.get(owner);
    if (r) {
      sets!.delete(owner);
      if (sets!.size === 0) this.byAlloc.delete(allocID);
      await r.registrar.deregister(0);
      await r.started;
    }
    if (delayMs > 0) await sleepFor(delayMs, signal);
  }

  /** The agent goes away: stop checking, keep the instances registered. */
  detach(allocID: string, owner: string): void {
    const sets = this.byAlloc.get(allocID);
    const r = sets?.get(owner);
    if (!r) return;
    r.ctl.abort();
    sets!.delete(owner);
  }

  builds(input: { alloc: Allocation; task?: string; interpolation: InterpolationContext }): ServiceWorkload[] {
    return buildServiceWorkloads({
      alloc: input.alloc,
      node: this.options.node(),
      advertiseIP: this.options.advertiseIP,
      task: input.task,
      interpolate: (s) => interpolateString(s, input.interpolation),
      // address_mode "alloc": the namespace's address in bridge mode.
      ...(input.alloc.NetworkStatus?.Address ? { allocIP: String(input.alloc.NetworkStatus.Address) } : {}),
    });
  }

  private async upsert(regs: Parameters<NonNullable<ServerRPC['upsertServiceRegistrations']>>[0]): Promise<void> {
    if (!this.options.rpc.upsertServiceRegistrations) throw new Error('the server connection cannot register services');
    await this.options.rpc.upsertServiceRegistrations(regs);
  }

  private async delete(ids: string[]): Promise<void> {
    if (!this.options.rpc.deleteServiceRegistrations)
      throw new Error('the server connection cannot deregister services');
    await this.options.rpc.deleteServiceRegistrations(ids);
  }
}

/** Script checks of a task service run in that task, through its driver. */
function taskExec(ctx: TaskHookContext, handle: TaskHandle): (task: string) => ScriptExec | undefined {
  return (task) =>
    task !== ctx.task.Name
      ? undefined
      : async (cmd, args, timeoutMs) => {
          const r = await ctx.driver.execTask(handle.config.id, [cmd, ...args], timeoutMs);
          return { exitCode: r.exitCode, output: r.stdout + r.stderr };
        };
}

class TaskServiceHook implements TaskHook {
  readonly name = 'services';
  constructor(
    private readonly services: ClientServices,
    private readonly task: string,
  ) {}

  private handle: TaskHandle | undefined;
  private registered = '';

  private async register(ctx: TaskHookContext, handle: TaskHandle): Promise<void> {
    this.handle = handle;
    const workloads = this.services.builds({ alloc: ctx.alloc, task: this.task, interpolation: ctx.interpolation });
    await this.services.register({
      alloc: ctx.alloc,
      owner: this.task,
      workloads,
      exec: taskExec(ctx, handle),
      restart: (_task, reason) => ctx.restart(reason, { failure: true }),
      signal: ctx.signal,
    });
    this.registered = registrationKey(workloads);
  }

  poststart(ctx: TaskHookContext, handle: TaskHandle): Promise<void> {
    return this.register(ctx, handle);
  }

  recovered(ctx: TaskHookContext, handle: TaskHandle): Promise<void> {
    return this.register(ctx, handle);
  }

  /** An in-place job update (new tags, meta, checks): registers again when what readers see changed. */
  async update(ctx: TaskHookContext, alloc: Allocation): Promise<void> {
    if (!this.handle || !this.registered) return;
    const workloads = this.services.builds({ alloc, task: this.task, interpolation: ctx.interpolation });
    if (registrationKey(workloads) === this.registered) return;
    await this.register({ ...ctx, alloc }, this.handle);
  }

  /** The process is gone: its instances must not be served while it restarts. */
  exited(ctx: TaskHookContext): Promise<void> {
    this.handle = undefined;
    this.registered = '';
    return this.services.deregister(ctx.alloc.ID, this.task);
  }

  preKill(ctx: TaskHookContext): Promise<void> {
    return this.services.deregister(ctx.alloc.ID, this.task);
  }

  stop(ctx: TaskHookContext): Promise<void> {
    return this.services.deregister(ctx.alloc.ID, this.task);
  }
}

/** What a re-registration would change: IDs, addresses, tags, meta and check definitions. */
function registrationKey(ws: ServiceWorkload[]): string {
  return JSON.stringify(
    ws.map((w) => [
      w.registration.ID,
      w.registration.Address,
      w.registration.Port,
      w.registration.Tags,
      w.registration.Meta ?? {},
      w.checks.map((c) => c.CheckID),
    ]),
  );
}

/** Group services are interpolated with the allocation's environment (that of its first task, as Nomad). */
function groupInterpolation(ctx: AllocHookContext, alloc: Allocation): InterpolationContext {
  const task = ctx.group.Tasks[0];
  if (!task) return { env: {}, node: ctx.node, region: ctx.region };
  const env = nomadEnv({
    alloc,
    group: ctx.group,
    task,
    node: ctx.node,
    region: ctx.region,
    dirs: taskDirs(ctx.dataDir, alloc.ID, task.Name),
    fsIsolation: 'none',
    advertiseIP: ctx.advertiseIP,
  });
  return { env, node: ctx.node, region: ctx.region };
}

class GroupServiceHook implements AllocHook {
  readonly name = 'group_services';
  private killed = false;
  /** Stops the checks when the agent goes away. */
  private readonly ctl = new AbortController();

  constructor(private readonly services: ClientServices) {}

  private async register(ctx: AllocHookContext, alloc: Allocation): Promise<void> {
    if (this.killed || (ctx.group.Services ?? []).length === 0) return;
    const workloads = this.services.builds({ alloc, interpolation: groupInterpolation(ctx, alloc) });
    await this.services.register({
      alloc,
      owner: GROUP,
      workloads,
      exec: (task) => async (cmd, args, timeoutMs) => {
        const run = ctx.execTask(task, [cmd, ...args], timeoutMs);
        if (!run) return { exitCode: 2, output: `task "${task}" is not running` };
        const r = await run;
        return { exitCode: r.exitCode, output: r.stdout + r.stderr };
      },
      restart: (task, reason) => ctx.restartTask(task, reason),
      signal: this.ctl.signal,
    });
  }

  running(ctx: AllocHookContext): Promise<void> {
    return this.register(ctx, ctx.alloc);
  }

  async update(ctx: AllocHookContext, alloc: Allocation): Promise<void> {
    const before = JSON.stringify(ctx.group.Services ?? []);
    const group = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
    if (!group || JSON.stringify(group.Services ?? []) === before) return;
    await this.register({ ...ctx, group }, alloc);
  }

  /** Out of the catalog first, then the group's shutdown_delay (skipped by `alloc stop -no-shutdown-delay`). */
  preKill(ctx: AllocHookContext): Promise<void> {
    this.killed = true;
    const skip = ctx.alloc.DesiredTransition?.NoShutdownDelay === true;
    const delayMs = skip ? 0 : (ctx.group.ShutdownDelay ?? 0) / NS_PER_MS;
    return this.services.deregister(ctx.alloc.ID, GROUP, delayMs);
  }

  stop(ctx: AllocHookContext): Promise<void> {
    this.killed = true;
    return this.services.deregister(ctx.alloc.ID, GROUP);
  }

  async detach(ctx: AllocHookContext): Promise<void> {
    this.ctl.abort();
    this.services.detach(ctx.alloc.ID, GROUP);
  }
}
