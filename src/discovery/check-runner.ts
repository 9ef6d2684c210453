/**
 * Runs the checks of one service instance on the client, for as long as the task runs.
 *
 *   start ─► each check: probe now, then every interval (never overlapping itself)
 *              probe ─► result within timeout, else critical "timed out"
 *              result ─► CheckStatusTracker ─► status; if any check's status moved: onStatusChange(aggregate, results)
 *              status ─► CheckRestartTracker ─► onRestartNeeded() after `limit` unhealthy statuses past grace
 *   signal aborts ─► loops end; start() resolves; results of probes still in flight are dropped
 *
 * The aggregate status is the worst check status (no checks: passing). The client pushes the registration to
 * the server only from onStatusChange, so a steady service costs no writes.
 */
import type { ServiceCheckResult, ServiceHealthStatus } from '../structs/index.js';
import { nullLogger, type Logger } from '../logging/index.js';
import { worstStatus } from './catalog.js';
import { CheckRestartTracker, CheckStatusTracker } from './check-state.js';
import { systemClock, type Clock } from './clock.js';
import { defaultProbes, type Probe, type ProbeResult, type ProbeSet, type ScriptExec } from './probes.js';
import type { ResolvedCheck } from './registrations.js';

export interface RestartRequest {
  checkID: string;
  checkName: string;
  status: ServiceHealthStatus;
  output: string;
}

export interface CheckRunnerOptions {
  checks: ResolvedCheck[];
  /** Stops every check. */
  signal: AbortSignal;
  clock?: Clock;
  /** Replace probes (tests, or a client with its own transport). */
  probes?: Partial<ProbeSet>;
  /** For script checks: runs the command inside the check's task (the driver's execTask). */
  exec?: ScriptExec;
  logger?: Logger;
  /** Called when any check's status changes, with the new aggregate status and every check's latest result. */
  onStatusChange?(status: ServiceHealthStatus, results: ServiceCheckResult[]): void;
  /** Called when a check with check_restart asks for its task to be restarted. */
  onRestartNeeded?(req: RestartRequest): void;
}

interface CheckState {
  check: ResolvedCheck;
  probe: Probe;
  tracker: CheckStatusTracker;
  restart: CheckRestartTracker | null;
  result: ServiceCheckResult;
}

export class CheckRunner {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly states: CheckState[];
  private running: Promise<void> | undefined;

  constructor(private readonly opts: CheckRunnerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? nullLogger).child({ component: 'checks' });
    const probes = { ...defaultProbes(opts.exec), ...opts.probes };
    const now = this.clock.now();
    this.states = opts.checks.map((check) => ({
      check,
      probe: probes[check.Type],
      tracker: new CheckStatusTracker(check),
      restart: check.CheckRestart ? new CheckRestartTracker(check.CheckRestart, now) : null,
      // Timestamp 0 until the first probe: "pending" in the alloc checks API.
      result: { CheckID: check.CheckID, Name: check.Name, Status: check.InitialStatus, Output: '', Timestamp: 0 },
    }));
  }

  /** Worst status of all checks; passing when there are none. */
  get status(): ServiceHealthStatus {
    return worstStatus(this.states.map((s) => s.result.Status));
  }

  results(): ServiceCheckResult[] {
    return this.states.map((s) => ({ ...s.result }));
  }

  /**
   * Starts every check loop; resolves when the signal aborts and every loop has ended. Calling it again returns
   * the same promise.
   */
  start(): Promise<void> {
    this.running ??= Promise.all(this.states.map((s) => this.loop(s))).then(() => undefined);
    return this.running;
  }

  /** The task was restarted by something else: every check_restart grace period starts again. */
  taskRestarted(): void {
    const now = this.clock.now();
    for (const s of this.states) s.restart?.restarted(now);
  }

  private async loop(s: CheckState): Promise<void> {
    const { signal } = this.opts;
    while (!signal.aborted) {
      const r = await this.runOnce(s);
      if (signal.aborted) return;
      this.record(s, r);
      try {
        await this.clock.sleep(s.check.IntervalMs, signal);
      } catch {
        return;
      }
    }
  }

  /** One probe, bounded by the check's timeout on the injected clock. */
  private async runOnce(s: CheckState): Promise<ProbeResult> {
    const timer = new AbortController();
    const probeCtl = new AbortController();
    const stop = () => probeCtl.abort(this.opts.signal.reason);
    this.opts.signal.addEventListener('abort', stop, { once: true });
    const timeout = this.clock.sleep(s.check.TimeoutMs, timer.signal).then(
      (): ProbeResult => {
        probeCtl.abort(new Error('check timed out'));
        return { status: 'critical', output: `check timed out after ${s.check.TimeoutMs}ms` };
      },
      () => undefined,
    );
    try {
      const r = await Promise.race([s.probe(s.check, probeCtl.signal), timeout.then((t) => t ?? never())]);
      return r;
    } catch (e) {
      return { status: 'critical', output: e instanceof Error ? e.message : String(e) };
    } finally {
      timer.abort();
      this.opts.signal.removeEventListener('abort', stop);
    }
  }

  private record(s: CheckState, r: ProbeResult): void {
    const before = s.result.Status;
    const status = s.tracker.apply(r.status);
    const now = this.clock.now();
    s.result = {
      CheckID: s.check.CheckID,
      Name: s.check.Name,
      Status: status,
      Output: r.output,
      Timestamp: now * 1_000_000,
    };
    if (r.statusCode !== undefined) s.result.StatusCode = r.statusCode;
    if (status !== before) {
      this.log.debug('check status changed', {
        check: s.check.Name,
        checkID: s.check.CheckID,
        from: before,
        to: status,
      });
      this.opts.onStatusChange?.(this.status, this.results());
    }
    if (s.restart?.observe(status, now)) {
      this.log.info('check asks for a task restart', { check: s.check.Name, checkID: s.check.CheckID, status });
      this.opts.onRestartNeeded?.({ checkID: s.check.CheckID, checkName: s.check.Name, status, output: r.output });
    }
  }
}

/** A promise that never settles: the timeout branch only wins by resolving. */
function never(): Promise<ProbeResult> {
  return new Promise<ProbeResult>(() => {});
}
