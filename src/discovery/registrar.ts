/**
 * The client side of one allocation's (or one task's) service instances: register them, run their checks,
 * push status changes, and deregister before the task is killed.
 *
 *   start ─► upsert every registration (initial status) ─► CheckRunner per instance
 *              status change ─► mark dirty ─► flush: upsert the latest state of dirty instances
 *                                              (one write in flight; failures retried with backoff)
 *   check_restart ─► onRestartNeeded(task, request)
 *   deregister(shutdownDelayMs) ─► stop checks ─► delete every ID ─► wait shutdown_delay (traffic drains)
 *
 * Knows nothing of the client: the caller passes how to write to the server (ServerRPC's
 * upsertServiceRegistrations / deleteServiceRegistrations) and how to exec in a task.
 */
import type { ServiceHealthStatus, ServiceRegistration } from '../structs/index.js';
import { nullLogger, type Logger } from '../logging/index.js';
import { allocCheckStatuses, type AllocCheckStatus } from './alloc-checks.js';
import { registrationChanged } from './catalog.js';
import { CheckRunner, type RestartRequest } from './check-runner.js';
import { systemClock, type Clock } from './clock.js';
import { scriptProbe, type Probe, type ScriptExec } from './probes.js';
import type { ServiceWorkload } from './registrations.js';

export interface RegistrationWriter {
  upsert(regs: ServiceRegistration[]): Promise<void>;
  delete(ids: string[]): Promise<void>;
}

export interface ServiceRegistrarOptions {
  workloads: ServiceWorkload[];
  writer: RegistrationWriter;
  /** Script checks: exec in the named task (the driver's execTask for that task). */
  exec?: (task: string) => ScriptExec | undefined;
  /** Called when a check with check_restart asks for its task to be restarted. */
  onRestartNeeded?(task: string, req: RestartRequest): void;
  clock?: Clock;
  logger?: Logger;
  probes?: Partial<Record<'http' | 'tcp' | 'grpc' | 'script', Probe>>;
  /** Backoff between failed writes. Default 1000ms, doubling up to 30s. */
  retryMs?: number;
}

export class ServiceRegistrar {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly current = new Map<string, ServiceRegistration>();
  private readonly pushed = new Map<string, ServiceRegistration>();
  private readonly ctl = new AbortController();
  private runners: CheckRunner[] = [];
  /** Registration ID → its check runner, for results newer than the last status change. */
  private readonly runnerOf = new Map<string, CheckRunner>();
  private loops: Promise<void>[] = [];
  private flushing: Promise<void> | undefined;
  private again = false;
  private busy = false;

  constructor(private readonly opts: ServiceRegistrarOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? nullLogger).child({ component: 'services' });
    for (const w of opts.workloads) this.current.set(w.registration.ID, w.registration);
  }

  /** The registrations as last computed (with their latest check results). */
  registrations(): ServiceRegistration[] {
    return [...this.current.values()];
  }

  /** Registers every instance and starts the checks. `signal` stops everything (without deregistering). */
  async start(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.ctl.abort(signal.reason), { once: true });
    if (signal.aborted) this.ctl.abort(signal.reason);
    for (const w of this.opts.workloads) {
      if (w.checks.length === 0) continue;
      const exec = w.checks.some((c) => c.Type === 'script') ? this.opts.exec : undefined;
      const runner = new CheckRunner({
        checks: w.checks,
        signal: this.ctl.signal,
        clock: this.clock,
        logger: this.log,
        probes: { ...this.opts.probes, ...(exec && !this.opts.probes?.script ? { script: scriptByTask(exec) } : {}) },
        onStatusChange: (status, results) => this.update(w.registration.ID, { Status: status, Checks: results }),
        onRestartNeeded: (req) =>
          this.opts.onRestartNeeded?.(w.checks.find((c) => c.CheckID === req.checkID)?.Task || w.task, req),
      });
      this.runners.push(runner);
      this.runnerOf.set(w.registration.ID, runner);
    }
    await this.flush();
    this.loops = this.runners.map((r) => r.start());
  }

  /** `GET /v1/client/allocation/:id/checks` for these instances. */
  checkStatuses(group: string): Record<string, AllocCheckStatus> {
    // The latest probe of every check, even when its status did not change (output and time move on).
    const live = this.registrations().map((r) => {
      const runner = this.runnerOf.get(r.ID);
      return runner ? { ...r, Checks: runner.results() } : r;
    });
    return allocCheckStatuses(group, this.opts.workloads, live);
  }

  /** Each check's deployment-health inputs: its on_update and its current status. */
  checkHealth(): Array<{ OnUpdate: string; Status: ServiceHealthStatus }> {
    const out: Array<{ OnUpdate: string; Status: ServiceHealthStatus }> = [];
    for (const w of this.opts.workloads) {
      const results = this.current.get(w.registration.ID)?.Checks ?? [];
      for (const c of w.checks)
        out.push({
          OnUpdate: c.OnUpdate,
          Status: results.find((r) => r.CheckID === c.CheckID)?.Status ?? c.InitialStatus,
        });
    }
    return out;
  }

  /** The task restarted: check_restart grace periods start again. */
  taskRestarted(): void {
    for (const r of this.runners) r.taskRestarted();
  }

  /**
   * Removes every instance from the catalog, then waits `shutdownDelayMs` so clients that resolved it before
   * can finish (Nomad's shutdown_delay). Call before killing the task.
   */
  async deregister(shutdownDelayMs = 0, signal?: AbortSignal): Promise<void> {
    this.ctl.abort();
    await Promise.all(this.loops);
    await this.flushing;
    const ids = [...this.current.keys()];
    if (ids.length > 0) {
      try {
        await this.opts.writer.delete(ids);
        this.log.info('services deregistered', { ids });
      } catch (e) {
        this.log.warn('service deregistration failed', { ids, err: errMsg(e) });
      }
    }
    this.pushed.clear();
    if (shutdownDelayMs > 0)
      await this.clock.sleep(shutdownDelayMs, signal ?? new AbortController().signal).catch(() => undefined);
  }

  private update(id: string, patch: Partial<ServiceRegistration>): void {
    const reg = this.current.get(id);
    if (!reg) return;
    this.current.set(id, { ...reg, ...patch });
    void this.flush();
  }

  /** One write in flight; changes made meanwhile go in the next one. */
  private flush(): Promise<void> {
    this.again = true;
    if (!this.busy) {
      // Set before the loop runs: the loop may finish synchronously when nothing is dirty.
      this.busy = true;
      this.flushing = this.flushLoop();
    }
    return this.flushing ?? Promise.resolve();
  }

  private async flushLoop(): Promise<void> {
    let backoff = this.opts.retryMs ?? 1000;
    try {
      // `again` is read and `busy` cleared in the same tick, so a change made while the last write was in
      // flight is never left behind.
      while (this.again && !this.ctl.signal.aborted) {
        this.again = false;
        const dirty = [...this.current.values()].filter((r) => registrationChanged(this.pushed.get(r.ID), r));
        if (dirty.length === 0) continue;
        try {
          await this.opts.writer.upsert(dirty);
          for (const r of dirty) this.pushed.set(r.ID, r);
          backoff = this.opts.retryMs ?? 1000;
        } catch (e) {
          this.log.warn('service registration write failed; retrying', { err: errMsg(e), backoffMs: backoff });
          this.again = true;
          try {
            await this.clock.sleep(backoff, this.ctl.signal);
          } catch {
            return;
          }
          backoff = Math.min(backoff * 2, 30_000);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}

/** Script checks of one service may name different tasks: route each to its own exec. */
function scriptByTask(exec: (task: string) => ScriptExec | undefined): Probe {
  return (c, signal) => scriptProbe(exec(c.Task))(c, signal);
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
