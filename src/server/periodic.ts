/**
 * The periodic dispatcher: launches a child job `<parent>/periodic-<unix seconds>` of every periodic
 * parent at each time its cron names (Nomad's PeriodicDispatch). A parent is never scheduled itself.
 *
 *   register/restore ─► track(parent) ─► next launch computed ─► timer ─► tick(now)
 *   tick: for each parent due ─► prohibit_overlap and a live child? skip : derive child + eval
 *         ─► next launch computed from this launch time
 *   force: derive a child now, whatever the schedule and prohibit_overlap
 *   start after a restart: a parent whose next launch after its last one has passed launches once now
 *
 * Time comes from the injected clock; the single timer only wakes `tick`, so tests drive `tick` with a
 * fake clock and never wait.
 */
import { EvalTriggerPeriodicJob, JobStatusDead, type Evaluation, type Job } from '../structs/index.js';
import { nsKey, refreshJobStatus, upsertEvals, upsertJob, type StateView } from '../state/index.js';
import { badRequest, jobNotFound } from '../errors/index.js';
import { parseCron, type CronSchedule } from './cron.js';
import { newEval, nowNs, routeEval, type ServerContext } from './context.js';
import type { EvalCreatedResult } from './types.js';

interface Tracked {
  namespace: string;
  id: string;
  schedules: CronSchedule[];
  /** Epoch ms of the next launch; undefined when the cron has no future time. */
  next: number | undefined;
}

/** The schedules of a periodic config (`cron` or `crons`), in its time zone. Throws BadRequest when invalid. */
export function periodicSchedules(job: Job): CronSchedule[] {
  const p = job.Periodic;
  if (p == null) return [];
  const specs = [...(p.Specs ?? []), ...(p.Spec ? [p.Spec] : [])];
  if (p.SpecType && p.SpecType !== 'cron')
    throw badRequest(`periodic spec type "${p.SpecType}" is not supported: only "cron"`);
  return [...new Set(specs)].map((s) => parseCron(s, p.TimeZone || 'UTC'));
}

/** The earliest launch strictly after `afterMs` among the job's crons. */
export function nextLaunch(schedules: CronSchedule[], afterMs: number): number | undefined {
  let best: number | undefined;
  for (const s of schedules) {
    const t = s.next(afterMs);
    if (t !== undefined && (best === undefined || t < best)) best = t;
  }
  return best;
}

/** Nomad's derived job ID. */
export function periodicChildID(parentID: string, launchMs: number): string {
  return `${parentID}/periodic-${Math.floor(launchMs / 1000)}`;
}

/** The child jobs of a parent (periodic or dispatched), newest first. */
export function childJobs(view: StateView, namespace: string, parentID: string): Job[] {
  return view
    .jobs()
    .filter((j) => j.Namespace === namespace && j.ParentID === parentID)
    .sort((a, b) => (b.CreateIndex ?? 0) - (a.CreateIndex ?? 0));
}

function isActive(job: Job): boolean {
  return job.Periodic?.Enabled === true && !job.Stop && !job.ParentID;
}

export class PeriodicDispatcher {
  private readonly tracked = new Map<string, Tracked>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private enabled = false;

  constructor(
    private readonly ctx: ServerContext,
    private readonly opts: { useTimer?: boolean } = {},
  ) {}

  /** Enables launching and tracks every periodic parent in state; disabling clears the timer. */
  setEnabled(on: boolean): void {
    this.enabled = on;
    if (!on) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      return;
    }
    const snap = this.ctx.store.snapshot();
    for (const j of snap.jobs()) this.update(j);
    this.ctx.background('periodic catch-up', this.catchUp(snap));
  }

  /**
   * After a restart, a parent whose launch came due while the server was down launches once now, as
   * Nomad's leader does on restore; the rest of the missed times are not made up for.
   */
  private async catchUp(snap: StateView): Promise<void> {
    const now = this.ctx.clock.now();
    for (const t of [...this.tracked.values()]) {
      const parent = snap.jobByID(t.namespace, t.id);
      if (parent == null) continue;
      const launches = childJobs(snap, t.namespace, t.id)
        .map((c) => /\/periodic-(\d+)$/.exec(c.ID)?.[1])
        .filter((x): x is string => x !== undefined)
        .map((x) => Number(x) * 1000);
      const last = Math.max((parent.SubmitTime ?? 0) / 1e6, ...launches);
      const due = nextLaunch(t.schedules, last);
      if (due === undefined || due >= now) continue;
      await this.launch(t.namespace, t.id, now).catch((e: unknown) => {
        this.ctx.logger.error('periodic catch-up launch failed', { job_id: t.id, error: (e as Error).message });
      });
    }
  }

  /** Called after a job write: tracks, re-schedules or forgets the job. */
  update(job: Job): void {
    const key = nsKey(job.Namespace, job.ID);
    if (!isActive(job)) {
      this.tracked.delete(key);
      return;
    }
    let schedules: CronSchedule[];
    try {
      schedules = periodicSchedules(job);
    } catch (e) {
      this.ctx.logger.warn('periodic job has an invalid schedule', { job_id: job.ID, error: (e as Error).message });
      this.tracked.delete(key);
      return;
    }
    this.tracked.set(key, {
      namespace: job.Namespace,
      id: job.ID,
      schedules,
      next: nextLaunch(schedules, this.ctx.clock.now()),
    });
    this.arm();
  }

  remove(namespace: string, id: string): void {
    this.tracked.delete(nsKey(namespace, id));
  }

  /** The next launch of a tracked parent (epoch ms), for `job status` and tests. */
  nextLaunchOf(namespace: string, id: string): number | undefined {
    return this.tracked.get(nsKey(namespace, id))?.next;
  }

  /** Launches every parent whose time has come; returns the IDs of the children created. */
  async tick(): Promise<string[]> {
    if (!this.enabled) return [];
    const now = this.ctx.clock.now();
    const launched: string[] = [];
    for (const t of [...this.tracked.values()]) {
      if (t.next === undefined || t.next > now) continue;
      const at = t.next;
      // A launch missed while the server was busy happens once, not once per missed time.
      t.next = nextLaunch(t.schedules, Math.max(at, now));
      const id = await this.launch(t.namespace, t.id, at).catch((e: unknown) => {
        this.ctx.logger.error('periodic launch failed', { job_id: t.id, error: (e as Error).message });
        return undefined;
      });
      if (id) launched.push(id);
    }
    this.arm();
    return launched;
  }

  /** `job periodic force`: a child now, even with prohibit_overlap (as Nomad's force does). */
  async force(namespace: string, id: string): Promise<EvalCreatedResult> {
    const job = this.ctx.store.snapshot().jobByID(namespace, id);
    if (job == null) throw jobNotFound(namespace, id);
    if (!isActive(job)) throw badRequest(`job "${id}" is not a periodic job`);
    const r = await this.derive(job, this.ctx.clock.now());
    return {
      EvalID: r.ev.ID,
      EvalCreateIndex: r.ev.CreateIndex,
      JobModifyIndex: r.child.JobModifyIndex ?? r.index,
      Index: r.index,
    };
  }

  private async launch(namespace: string, id: string, at: number): Promise<string | undefined> {
    const snap = this.ctx.store.snapshot();
    const job = snap.jobByID(namespace, id);
    if (job == null || !isActive(job)) {
      this.remove(namespace, id);
      return undefined;
    }
    if (job.Periodic?.ProhibitOverlap) {
      const running = childJobs(snap, namespace, id).find((c) => c.Status !== JobStatusDead);
      if (running) {
        this.ctx.logger.info('periodic launch skipped: previous child still running', {
          job_id: id,
          child: running.ID,
        });
        return undefined;
      }
    }
    const r = await this.derive(job, at);
    this.ctx.logger.info('periodic job launched', { job_id: id, child: r.child.ID });
    return r.child.ID;
  }

  private async derive(parent: Job, at: number): Promise<{ child: Job; ev: Evaluation; index: number }> {
    const spec = childSpec(parent);
    let childID = periodicChildID(parent.ID, at);
    const { result, index } = await this.ctx.store.write((txn) => {
      // A force in the same second as a launch: Nomad would collide; keep both by moving on a second.
      let t = at;
      while (txn.jobByID(parent.Namespace, childID) != null) childID = periodicChildID(parent.ID, (t += 1000));
      const child: Job = { ...spec, ID: childID, Name: childID, ParentID: parent.ID, Periodic: null, Stop: false };
      const stored = upsertJob(txn, child, {
        nowNs: nowNs(this.ctx),
        trackedVersions: this.ctx.jobTrackedVersions,
      }).job;
      const [ev] = upsertEvals(txn, [newEval(this.ctx, stored, EvalTriggerPeriodicJob)], nowNs(this.ctx));
      refreshJobStatus(txn, stored.Namespace, stored.ID);
      return { child: stored, ev: ev! };
    });
    routeEval(this.ctx, result.ev);
    return { ...result, index };
  }

  private arm(): void {
    if (!this.enabled || this.opts.useTimer === false) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let soonest: number | undefined;
    for (const t of this.tracked.values())
      if (t.next !== undefined && (soonest === undefined || t.next < soonest)) soonest = t.next;
    if (soonest === undefined) return;
    // Timers past ~24 days overflow; waking once a day to re-arm is harmless.
    const wait = Math.min(Math.max(0, soonest - this.ctx.clock.now()), 86_400_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ctx.background('periodic tick', this.tick());
    }, wait);
    this.timer.unref?.();
  }
}

/**
 * The part of a parent job a child (periodic launch or dispatch) copies: everything but the state the store
 * keeps per job (status, version, indexes, stability).
 */
export function childSpec(parent: Job): Omit<Job, ChildOwnFields> {
  const {
    Status: _s,
    StatusDescription: _d,
    Version: _v,
    CreateIndex: _c,
    ModifyIndex: _m,
    JobModifyIndex: _j,
    Stable: _st,
    ...spec
  } = parent;
  return spec;
}

type ChildOwnFields =
  'Status' | 'StatusDescription' | 'Version' | 'CreateIndex' | 'ModifyIndex' | 'JobModifyIndex' | 'Stable';
