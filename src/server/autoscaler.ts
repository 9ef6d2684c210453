/**
 * The horizontal autoscaler, run by the leader (Server.start starts it; a follower's server is never started, so
 * only the leader scales). It reads the groups' `scaling { policy { ... } }` blocks from the state, as Nomad's
 * separate autoscaler reads them from the policies endpoint, and scales through the same path as
 * `job scale` (a new job version, a `job-scaling` evaluation, a scaling event).
 *
 *   every tick: enabled policies with checks, whose evaluation_interval has passed
 *     └─ cooldown since the group's last count change (any: autoscaler or `job scale`) not over ──► skip
 *     └─ query every check's source ──► strategy per check ──► safest (largest) count ──► clamp to min/max
 *          (a check whose source has no data yet sits out; none left ──► nothing recorded)
 *          no change wanted ──────────────────────────────────────► nothing recorded
 *          change wanted, deployment active ──────────────────────► event "not scaled: deployment …" (Count null)
 *          change wanted but the count is already at min/max ─────► event "not scaled: at max …" (Count null)
 *          every check failed / an on_error=fail check failed ────► event with Error=true
 *          otherwise ─────────────────────────────────────────────► scale: event with Count, metrics in Meta
 *
 * Refusal and error events are recorded once per distinct reason until the next action, so a long deployment or a
 * source that stays down leaves one event, not one per evaluation (a group keeps only 20).
 */
import {
  allocTerminalStatus,
  AllocClientStatusRunning,
  DeploymentStatusPaused,
  DeploymentStatusPending,
  DeploymentStatusRunning,
  type Job,
  type TaskGroup,
} from '../structs/index.js';
import { nsKey, type StateView } from '../state/index.js';
import { DroverError } from '../errors/index.js';
import { sleepOrAborted } from '../lib/sleep.js';
import type { ServerContext } from './context.js';
import { HISTORY, parsePolicy, type CheckSpec, type PolicySpec } from './autoscaler-policy.js';
import { clampCount, runStrategy, safestCount } from './autoscaler-strategies.js';
import type { MetricSource } from './autoscaler-sources.js';
import { groupScalingPolicy } from './scaling-policies.js';
import { jobScale } from './scaling.js';

export interface AutoscalerOptions {
  /** Sources by the name checks give in `source`; a check naming one that is absent fails with that reason. */
  sources: Partial<Record<string, MetricSource>>;
  /** How often due policies are looked for (default 500 ms); each policy keeps its own evaluation_interval. */
  tickMs?: number;
  /** Longest a check's query may take (default 5 s). */
  queryTimeoutMs?: number;
}

/** A sanity cap on any count the autoscaler sets, whatever max says (a runaway metric must not ask for millions). */
export const MAX_TARGET = 1000;

interface PolicyState {
  nextAtMs: number;
  history: Map<string, number[]>;
  /** The refusal or error last recorded since the last action, so it is not recorded again. */
  lastNote?: string;
  running: boolean;
}

interface CheckResult {
  check: CheckSpec;
  metric?: number;
  wanted?: number;
  reason: string;
  error?: string;
  /** The source has no data yet: the check sits this evaluation out. */
  pending?: boolean;
}

/** An active deployment of the job blocks scaling (Nomad's autoscaler waits for it as well). */
function activeDeployment(view: StateView, job: Job): string | undefined {
  const d = view.latestDeploymentByJobID(job.Namespace, job.ID);
  if (!d) return undefined;
  const active = [DeploymentStatusRunning, DeploymentStatusPaused, DeploymentStatusPending].includes(d.Status);
  return active ? d.ID : undefined;
}

/** When the group's count last changed by a scaling request (ms), from the stored events: survives a failover. */
function lastCountChangeMs(view: StateView, job: Job, group: string): number | undefined {
  const events = view.tables.get('scaling_events', nsKey(job.Namespace, job.ID))?.ScalingEvents[group];
  const e = events?.find((ev) => ev.Count != null);
  return e ? e.Time / 1e6 : undefined;
}

export class Autoscaler {
  private readonly state = new Map<string, PolicyState>();
  private readonly specs = new WeakMap<TaskGroup, PolicySpec>();
  private readonly log;

  constructor(
    private readonly ctx: ServerContext,
    private readonly opts: AutoscalerOptions,
  ) {
    this.log = ctx.logger.child({ component: 'autoscaler' });
  }

  /** Evaluates due policies until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.tick(signal);
      await sleepOrAborted(this.opts.tickMs ?? 500, signal);
    }
  }

  private spec(tg: TaskGroup): PolicySpec {
    let s = this.specs.get(tg);
    if (!s) {
      // Admission refuses a policy with problems; a job stored before that check is read as far as it goes.
      s = parsePolicy(tg.Scaling?.Policy, 'Scaling.Policy').spec;
      this.specs.set(tg, s);
    }
    return s;
  }

  /** One pass: every due policy evaluated (concurrently), awaited. Public for tests with a fake clock. */
  async tick(signal: AbortSignal): Promise<void> {
    const view = this.ctx.store.snapshot();
    const now = this.ctx.clock.now();
    const seen = new Set<string>();
    const work: Promise<void>[] = [];
    for (const job of view.jobs()) {
      if (job.Stop || job.Type === 'system' || job.Type === 'sysbatch' || job.ParameterizedJob || job.Periodic?.Enabled)
        continue;
      for (const tg of job.TaskGroups) {
        const policy = groupScalingPolicy(job, tg);
        if (!policy || policy.Enabled === false) continue;
        const spec = this.spec(tg);
        if (spec.checks.length === 0) continue;
        const id = policy.ID!;
        seen.add(id);
        let st = this.state.get(id);
        if (!st) this.state.set(id, (st = { nextAtMs: now, history: new Map(), running: false }));
        if (st.running || now < st.nextAtMs) continue;
        st.nextAtMs = now + spec.evaluationIntervalMs;
        st.running = true;
        const s = st;
        work.push(
          this.evaluate(job, tg, spec, s, signal)
            .catch((e: unknown) =>
              this.log.warn('scaling policy evaluation failed', {
                policy: id,
                job: job.ID,
                group: tg.Name,
                error: e instanceof Error ? e.message : String(e),
              }),
            )
            .finally(() => {
              s.running = false;
            }),
        );
      }
    }
    for (const id of this.state.keys()) if (!seen.has(id)) this.state.delete(id);
    await Promise.all(work);
  }

  private async queryCheck(
    c: CheckSpec,
    key: string,
    job: Job,
    tg: TaskGroup,
    st: PolicyState,
    signal: AbortSignal,
  ): Promise<CheckResult> {
    const source = this.opts.sources[c.source];
    if (!source) return { check: c, reason: '', error: `source "${c.source}" is not configured on this server` };
    const view = this.ctx.store.snapshot();
    const allocs = view
      .allocsByJob(job.Namespace, job.ID)
      .filter((a) => a.TaskGroup === tg.Name && !allocTerminalStatus(a) && a.ClientStatus === AllocClientStatusRunning);
    let metric: number | undefined;
    try {
      metric = await source.query({
        key: `${key}\u0000${c.name}`,
        query: c.query,
        job,
        group: tg,
        allocs,
        nowMs: this.ctx.clock.now(),
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.opts.queryTimeoutMs ?? 5000)]),
      });
    } catch (e) {
      return { check: c, reason: '', error: e instanceof Error ? e.message : String(e) };
    }
    if (metric === undefined) return { check: c, reason: 'no data yet', pending: true };
    const history = [...(st.history.get(c.name) ?? []), metric].slice(-HISTORY);
    st.history.set(c.name, history);
    const out = runStrategy(c.strategy, tg.Count, history);
    return { check: c, metric, wanted: out.count, reason: out.reason };
  }

  private async evaluate(job: Job, tg: TaskGroup, spec: PolicySpec, st: PolicyState, signal: AbortSignal) {
    const view = this.ctx.store.snapshot();
    const last = lastCountChangeMs(view, job, tg.Name);
    if (last !== undefined && this.ctx.clock.now() < last + spec.cooldownMs) return;
    const policyID = groupScalingPolicy(job, tg)!.ID!;
    const results = await Promise.all(spec.checks.map((c) => this.queryCheck(c, policyID, job, tg, st, signal)));
    if (signal.aborted) return;
    const meta = {
      policy_id: policyID,
      source: 'drover-autoscaler',
      checks: Object.fromEntries(
        results.map((r) => [
          r.check.name,
          {
            source: r.check.source,
            query: r.check.query,
            strategy: r.check.strategy.kind,
            ...(r.metric !== undefined ? { metric: r.metric } : {}),
            ...(r.wanted !== undefined ? { wanted: r.wanted } : {}),
            ...(r.error !== undefined ? { error: r.error } : { reason: r.reason }),
          },
        ]),
      ),
    };
    const failed = results.filter((r) => r.error !== undefined);
    const fatal = failed.find((r) => r.check.onError === 'fail');
    if (fatal || (failed.length > 0 && failed.length === results.length)) {
      const f = fatal ?? failed[0]!;
      await this.note(job, tg, st, `not scaled: check "${f.check.name}" failed: ${f.error}`, meta, true);
      return;
    }
    const ok = results.filter((r) => r.error === undefined && !r.pending);
    if (ok.length === 0) return;
    const current = tg.Count;
    const wanted = safestCount(
      current,
      ok.map((r) => r.wanted),
    );
    const min = tg.Scaling?.Min ?? 0;
    const max = Math.min(tg.Scaling?.Max ?? MAX_TARGET, MAX_TARGET);
    const { count, clamped } = clampCount(wanted, min, max);
    const why = ok
      .filter((r) => r.wanted !== undefined || ok.length === 1)
      .map((r) => `check "${r.check.name}": ${r.reason}`)
      .join('; ');
    if (wanted === current) return;
    if (count === current) {
      await this.note(job, tg, st, `not scaled: ${clamped}; ${why}`, meta, false);
      return;
    }
    const deployment = activeDeployment(this.ctx.store.snapshot(), job);
    if (deployment) {
      const message = `not scaled to ${count}: deployment ${deployment.slice(0, 8)} is in progress; ${why}`;
      await this.note(job, tg, st, message, { ...meta, deployment_id: deployment }, false, `deployment ${deployment}`);
      return;
    }
    const message = `scaled from ${current} to ${count}${clamped ? ` (${clamped})` : ''}: ${why}`;
    try {
      await jobScale(this.ctx, job.Namespace, job.ID, {
        Target: { Group: tg.Name },
        Count: count,
        Message: message,
        Meta: meta,
      });
      st.lastNote = undefined;
      this.log.info('scaled task group', { job: job.ID, group: tg.Name, from: current, to: count });
    } catch (e) {
      if (!(e instanceof DroverError)) throw e;
      await this.note(job, tg, st, `not scaled to ${count}: ${e.message}`, meta, true);
    }
  }

  /** Records a refusal or error event unless the same was recorded since the last action. */
  private async note(
    job: Job,
    tg: TaskGroup,
    st: PolicyState,
    message: string,
    meta: Record<string, unknown>,
    error: boolean,
    dedupeKey: string = message.replace(/-?\d+(\.\d+)?/g, '#'),
  ): Promise<void> {
    if (st.lastNote === dedupeKey) return;
    st.lastNote = dedupeKey;
    await jobScale(this.ctx, job.Namespace, job.ID, {
      Target: { Group: tg.Name },
      Count: null,
      Message: message,
      Error: error,
      Meta: meta,
    });
  }
}
