/**
 * A scheduler worker: dequeue an eval, plan on a snapshot at least as new as the eval, submit plans,
 * ack (or nack on error). JS has one thread, so workers are async loops that mostly wait; two of them
 * let one plan while the other waits on the plan applier.
 *
 *   dequeue ──► wait for state index ≥ eval.ModifyIndex ──► scheduler.process(eval) ──► ack once its
 *                                                               │ submitPlan / updateEval    eval update
 *                                                               │ / createEval               is durable
 *                                                               └─ throws ──► nack (broker redelivers)
 */
import { EvalStatusBlocked, EvalStatusPending, type Evaluation, type Plan } from '../structs/index.js';
import type { StateStore } from '../state/index.js';
import { schedulerStateOf } from './scheduler-state.js';
import type { Logger } from '../logging/index.js';
import type {
  Clock,
  Planner,
  Scheduler,
  SchedulerConfiguration,
  SchedulerOptions,
  SchedulerState,
} from '../scheduler/types.js';
import type { EvalBroker } from './eval-broker.js';
import type { PlanApplier } from './plan-applier.js';

/** The scheduler module's constructor: `newScheduler(type, state, planner, opts)`. */
export type NewSchedulerFn = (
  type: string,
  state: SchedulerState,
  planner: Planner,
  opts: SchedulerOptions,
) => Scheduler;

export const SCHEDULER_TYPES = ['service', 'batch', 'system', 'sysbatch'] as const;

export interface WorkerDeps {
  store: StateStore;
  broker: EvalBroker;
  plans: PlanApplier;
  logger: Logger;
  clock: Clock;
  newScheduler: NewSchedulerFn;
  schedulerConfig(): SchedulerConfiguration;
  /** Writes evals (indexes, summary, job status) and returns them as stored. */
  writeEvals(evals: Evaluation[]): Promise<Evaluation[]>;
  /** Sends a stored eval where it belongs: the broker (pending) or blocked evals (blocked). */
  routeEval(ev: Evaluation): void;
  /** How long to wait for the state to catch up with an eval before nacking it. */
  stateWaitMs?: number;
}

/**
 * The scheduler's view: the store's tip, which holds every plan applied so far even before it is durable, so
 * evaluations one after the other never plan on the same free capacity. Safe because everything the scheduler
 * makes durable is ordered after what it read: plans are re-checked against the tip by the applier, eval writes
 * commit after every earlier batch (a failed batch refuses the later ones), and once a failed write's tip is
 * dropped (`epoch` changes) this delivery's plans and eval writes are refused, so it is nacked and planned again.
 */
export function schedulerView(deps: Pick<WorkerDeps, 'store' | 'schedulerConfig'>): {
  state: SchedulerState;
  epoch: number;
} {
  const epoch = deps.store.epoch;
  return { state: schedulerStateOf(deps.store.tipSnapshot(), { config: deps.schedulerConfig() }), epoch };
}

/** The Planner a scheduler gets for one delivery of one eval. */
export class WorkerPlanner implements Planner {
  constructor(
    private readonly deps: WorkerDeps,
    private readonly token: string,
    /** The store epoch of the view the scheduler plans on (`schedulerView`). */
    private readonly epoch: number,
  ) {}

  async submitPlan(plan: Plan): Promise<{ result: import('../structs/index.js').PlanResult; state?: SchedulerState }> {
    plan.EvalToken = this.token;
    this.deps.broker.outstandingReset(plan.EvalID, this.token);
    // Answered once the plan is on the store's tip; its commit is waited for before the ack (as eval updates).
    const { result, committed } = await this.deps.plans.submitApplied(plan, this.epoch);
    this.pendingWrites.push(committed);
    if (result.RefreshIndex === 0) return { result };
    // Part of the plan was refused: plan again on the tip, which holds what refused it.
    const view = schedulerView(this.deps);
    if (view.epoch !== this.epoch) throw new Error('state was rolled back after a failed write; planning again');
    return { result, state: view.state };
  }

  /** Plans and eval updates applied to the state but perhaps not yet durable: the delivery is acked once they are. */
  readonly pendingWrites: Promise<unknown>[] = [];

  /** A write of this delivery must not land on a state rolled back since it planned. */
  private checkEpoch(): void {
    if (this.deps.store.epoch !== this.epoch)
      throw new Error('state was rolled back after a failed write; the eval is planned again');
  }

  updateEval(ev: Evaluation): Promise<void> {
    this.checkEpoch();
    // Not awaited here: the update is in the store's tip at once, and the worker acks only after it is
    // durable (`Worker.processOne`), so with an asynchronous backend the worker plans its next eval while
    // this commit is on its way instead of idling for the round trip.
    const p = this.deps.writeEvals([ev]);
    p.catch(() => undefined); // observed by processOne; this only keeps it from being "unhandled" meanwhile
    this.pendingWrites.push(p);
    return Promise.resolve();
  }

  async createEval(ev: Evaluation): Promise<void> {
    this.checkEpoch();
    const [stored] = await this.deps.writeEvals([ev]);
    if (stored != null && (stored.Status === EvalStatusPending || stored.Status === EvalStatusBlocked))
      this.deps.routeEval(stored);
  }

  async reblockEval(ev: Evaluation): Promise<void> {
    this.checkEpoch();
    const [stored] = await this.deps.writeEvals([{ ...ev, Status: EvalStatusBlocked }]);
    if (stored != null) this.deps.routeEval(stored);
  }
}

export class Worker {
  private done: Promise<void> | undefined;

  constructor(
    private readonly deps: WorkerDeps,
    readonly id: number,
  ) {}

  start(signal: AbortSignal): void {
    this.done = this.loop(signal);
  }

  /** Acks waiting for an eval update to become durable. */
  private readonly acking = new Set<Promise<void>>();

  /** Resolves when the loop has ended (after the signal aborts) and every deferred ack has settled. */
  async stopped(): Promise<void> {
    await (this.done ?? Promise.resolve());
    await Promise.all(this.acking);
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ worker: this.id });
    while (!signal.aborted) {
      const got = await this.deps.broker.dequeue(SCHEDULER_TYPES, signal);
      if (got == null) {
        if (!signal.aborted && !this.deps.broker.isEnabled()) await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      await this.processOne(got.ev, got.token, signal, log);
      // Let I/O (HTTP, heartbeats) run between evals even when the queue is long.
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Runs the scheduler for one delivery; never throws (failures become nacks). */
  async processOne(ev: Evaluation, token: string, signal: AbortSignal, log: Logger): Promise<void> {
    const { broker, store } = this.deps;
    try {
      const caughtUp = await store.waitForStateIndex(ev.ModifyIndex, this.deps.stateWaitMs ?? 5_000, signal);
      if (!caughtUp) throw new Error(`state did not reach index ${ev.ModifyIndex}`);
      const { state, epoch } = schedulerView(this.deps);
      const planner = new WorkerPlanner(this.deps, token, epoch);
      const sched = this.deps.newScheduler(ev.Type, state, planner, {
        logger: log.child({ eval_id: ev.ID }),
        clock: this.deps.clock,
      });
      await sched.process(ev);
      if (planner.pendingWrites.length === 0) {
        broker.ack(ev.ID, token);
        return;
      }
      // The broker holds this job's next eval until the ack, so nothing plans on top of an update that could
      // still be lost; meanwhile this worker takes an eval of another job. The delivery is still making progress
      // while a slow disk commits, so its nack timer is restarted now and as each write settles.
      const progress = () => {
        try {
          broker.outstandingReset(ev.ID, token);
        } catch {
          // The delivery timed out meanwhile; the ack below fails and so nacks (a no-op then).
        }
      };
      progress();
      const ack: Promise<void> = Promise.all(planner.pendingWrites.map((p) => p.then(progress)))
        .then(() => broker.ack(ev.ID, token))
        .catch((e: unknown) => this.nack(ev, token, e, log))
        .finally(() => this.acking.delete(ack));
      this.acking.add(ack);
    } catch (e) {
      this.nack(ev, token, e, log);
    }
  }

  private nack(ev: Evaluation, token: string, e: unknown, log: Logger): void {
    log.warn('eval processing failed; nacking', { eval_id: ev.ID, error: e instanceof Error ? e.message : String(e) });
    try {
      this.deps.broker.nack(ev.ID, token);
    } catch {
      // The delivery timed out meanwhile; the broker already redelivered it.
    }
  }
}
