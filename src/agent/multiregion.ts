/**
 * Multiregion rollouts: a job with a `multiregion` block, submitted to any federated server, is registered in
 * each region of the block in order, with that region's `count`, `datacenters`, `node_pool` and `meta`.
 *
 *   submit ──► check the block (regions known, strategy) ──► register in the first max_parallel regions
 *         (answer: the first region's registration) ──► background, per started region: wait for the
 *         deployment of that registration ──successful──► start the next region not yet started
 *                                            ──failed──► on_failure:
 *                                                          ""          later regions are never started
 *                                                          "fail_all"  later regions never started, and the
 *                                                                      deployments still running are failed
 *                                                          "fail_local" go on with the next region
 *
 * Nomad keeps this for its Enterprise edition; Drover gives it to everyone. Differences: a region is registered
 * only when its turn comes (Nomad registers every region at once and holds later ones "pending"), so a region
 * that is never started has no job at all. The rollout is kept in the state (table `multiregion_rollouts`: the
 * regions started, each one's outcome, the caller's token), written before and after each step, so when the
 * leader changes or restarts mid-rollout the next leader continues it (`resume`, every RESUME_MS): regions
 * started are watched again and later ones started in turn. A leader that can no longer write drops its copy.
 * Each region sees the caller's ACL token and checks it itself.
 */
import { badRequest, DroverError, type Problem } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { MultiregionRollouts, RegionDirectory } from '../http/index.js';
import type { Job, MultiregionRollout } from '../structs/index.js';
import { sleepOrAborted as sleep } from '../lib/sleep.js';
import { JsonReply, MULTIREGION_HEADER } from '../http/index.js';

/** Nomad's shapes: Job.Multiregion {Strategy{MaxParallel, OnFailure}, Regions[{Name, Count, Datacenters, NodePool, Meta}]}. */
export interface MultiregionBlock {
  Strategy?: { MaxParallel?: number; OnFailure?: string } | null;
  Regions?: Array<{
    Name: string;
    Count?: number;
    Datacenters?: string[] | null;
    NodePool?: string;
    Meta?: Record<string, string> | null;
  }> | null;
}

const ON_FAILURE = ['', 'fail_all', 'fail_local'];
const POLL_MS = 500;
/** How often a leader looks for rollouts in state that no one here drives (after a failover or a restart). */
const RESUME_MS = 2_000;

/** Where rollouts are kept: the server's state. Both throw on a server that may not act (a standby). */
export interface RolloutStore {
  all(): MultiregionRollout[];
  put(row: MultiregionRollout): Promise<void>;
}

type RolloutRequest = { namespace?: string; token?: string; body: Record<string, unknown> };

export interface MultiregionOptions {
  region: string;
  regions: RegionDirectory;
  /** `http://host:port` of this agent's own API. */
  self: () => string;
  logger: Logger;
  /** The longest one region's deployment is waited for (default 1 h: past every progress deadline). */
  regionTimeoutMs?: number;
  /** Keeps each rollout in state; without it a rollout lives only in this agent's memory. */
  store?: RolloutStore;
}

interface Registration {
  JobModifyIndex?: number;
  EvalID?: string;
}

interface DeploymentShape {
  ID: string;
  Status: string;
  StatusDescription?: string;
  JobModifyIndex?: number;
  JobSpecModifyIndex?: number;
}

export class MultiregionCoordinator implements MultiregionRollouts {
  private readonly abort = new AbortController();
  private readonly running = new Set<Promise<void>>();
  /** The rollouts this agent drives now, by namespace and job: a newer submission of the job replaces one. */
  private readonly driving = new Map<string, AbortController>();

  constructor(private readonly opts: MultiregionOptions) {}

  /** Over mutual TLS with this agent's certificate when TLS is on (the federation's). */
  private get fetch(): typeof fetch {
    return this.opts.regions.fetch ?? fetch;
  }

  async start(job: Job, req: RolloutRequest): Promise<JsonReply> {
    const block = job.Multiregion as MultiregionBlock;
    const order = this.check(job, block);
    const max = block.Strategy?.MaxParallel || order.length;
    const row: MultiregionRollout = {
      Namespace: req.namespace ?? 'default',
      JobID: job.ID,
      Job: job,
      Body: Object.fromEntries(Object.entries(req.body).filter(([k]) => k !== 'Job')),
      ...(req.token ? { Token: req.token } : {}),
      Order: order,
      MaxParallel: max,
      OnFailure: block.Strategy?.OnFailure ?? '',
      Regions: {},
      Status: 'running',
    };
    const key = `${row.Namespace}\u0000${row.JobID}`;
    this.driving.get(key)?.abort();
    const ctl = new AbortController();
    this.driving.set(key, ctl);
    await this.persist(row);
    let firstReply: JsonReply | undefined;
    for (const region of order.slice(0, max)) {
      const { reply, reg } = await this.register(job, block, region, req);
      firstReply ??= reply;
      row.Regions[region] = { Status: 'started', JobModifyIndex: reg.JobModifyIndex };
      await this.persist(row);
    }
    this.drive(row, ctl);
    return firstReply!;
  }

  /**
   * Continues, on this server, every rollout in state that is still running and that no one here drives: the
   * leader that started it died or stepped down, or this server restarted. Runs until stop(); a standby's store
   * throws, so only the leader picks rollouts up.
   */
  resume(): void {
    const store = this.opts.store;
    if (!store) return;
    const loop = (async () => {
      const signal = this.abort.signal;
      while (!signal.aborted) {
        let rows: MultiregionRollout[] = [];
        try {
          rows = store.all();
        } catch {
          // Not the leader: nothing to drive here.
        }
        for (const row of rows) {
          const key = `${row.Namespace}\u0000${row.JobID}`;
          if (row.Status !== 'running' || this.driving.has(key)) continue;
          this.opts.logger.info('multiregion rollout resumed', {
            job_id: row.JobID,
            started: Object.keys(row.Regions).join(','),
          });
          const ctl = new AbortController();
          this.driving.set(key, ctl);
          this.drive(structuredClone(row), ctl);
        }
        await sleep(RESUME_MS, signal);
      }
    })();
    this.running.add(loop);
    void loop.finally(() => this.running.delete(loop));
  }

  private drive(row: MultiregionRollout, ctl: AbortController): void {
    const key = `${row.Namespace}\u0000${row.JobID}`;
    const rollout = this.rollout(row, AbortSignal.any([this.abort.signal, ctl.signal]))
      .catch((e: unknown) => {
        if (!this.abort.signal.aborted && !ctl.signal.aborted)
          this.opts.logger.error('multiregion rollout stopped', { job_id: row.JobID, error: String(e) });
      })
      .finally(() => {
        if (this.driving.get(key) === ctl) this.driving.delete(key);
      });
    this.running.add(rollout);
    void rollout.finally(() => this.running.delete(rollout));
  }

  /** Writes the rollout's progress; throws when this server may no longer write (the next leader goes on). */
  private async persist(row: MultiregionRollout): Promise<void> {
    const kept = structuredClone(row);
    // The caller's token is kept only while a next leader may need it to go on; a finished rollout drops it.
    if (kept.Status !== 'running') delete kept.Token;
    await this.opts.store?.put(kept);
  }

  /** Stops waiting on every rollout (the agent stops); the regions keep what they were given. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.running]);
  }

  /** The block's regions in order, or a BadRequest naming each problem with its field path. */
  private check(job: Job, block: MultiregionBlock): string[] {
    const problems: Problem[] = [];
    const known = new Set(this.opts.regions.regions());
    const regions = block.Regions ?? [];
    if (regions.length === 0)
      problems.push({ path: 'Multiregion.Regions', message: 'a multiregion job needs at least one region block' });
    const seen = new Set<string>();
    regions.forEach((r, i) => {
      if (!known.has(r.Name))
        problems.push({
          path: `Multiregion.Regions[${i}].Name`,
          message: `no path to region "${r.Name}": known regions are ${[...known].map((k) => `"${k}"`).join(', ')}`,
        });
      if (seen.has(r.Name))
        problems.push({ path: `Multiregion.Regions[${i}].Name`, message: `region "${r.Name}" is listed twice` });
      seen.add(r.Name);
      if ((r.Count ?? 0) < 0)
        problems.push({ path: `Multiregion.Regions[${i}].Count`, message: 'count must not be negative' });
    });
    const s = block.Strategy ?? {};
    if (!ON_FAILURE.includes(s.OnFailure ?? ''))
      problems.push({
        path: 'Multiregion.Strategy.OnFailure',
        message: `on_failure must be "fail_all", "fail_local" or unset, got "${s.OnFailure}"`,
      });
    if ((s.MaxParallel ?? 0) < 0)
      problems.push({ path: 'Multiregion.Strategy.MaxParallel', message: 'max_parallel must not be negative' });
    if (job.Type !== undefined && job.Type !== 'service')
      problems.push({
        path: 'Type',
        message: `a multiregion job must be a service job (regions advance on deployments), got "${job.Type}"`,
      });
    if (problems.length > 0)
      throw badRequest(
        `job "${job.ID}" has an invalid multiregion block: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
        problems,
      );
    return regions.map((r) => r.Name);
  }

  /** The job as one region runs it: that region's name, count, datacenters, node pool and meta. */
  private partFor(job: Job, block: MultiregionBlock, region: string): Job {
    const r = (block.Regions ?? []).find((x) => x.Name === region)!;
    return {
      ...job,
      Region: region,
      Datacenters: r.Datacenters && r.Datacenters.length > 0 ? r.Datacenters : job.Datacenters,
      ...(r.NodePool ? { NodePool: r.NodePool } : {}),
      Meta: { ...(job.Meta ?? {}), ...(r.Meta ?? {}) },
      TaskGroups: job.TaskGroups.map((g) => (r.Count && r.Count > 0 ? { ...g, Count: r.Count } : g)),
    };
  }

  private base(region: string): string {
    const b = region === this.opts.region ? this.opts.self() : this.opts.regions.serverFor(region);
    if (b === undefined) throw badRequest(`no path to region "${region}"`);
    return b;
  }

  private headers(token: string | undefined): Record<string, string> {
    return {
      'content-type': 'application/json',
      [MULTIREGION_HEADER]: '1',
      ...(token ? { 'x-nomad-token': token } : {}),
    };
  }

  private async register(
    job: Job,
    block: MultiregionBlock,
    region: string,
    req: RolloutRequest,
  ): Promise<{ reply: JsonReply; reg: Registration }> {
    const q = req.namespace ? `?namespace=${encodeURIComponent(req.namespace)}` : '';
    const body = { ...req.body, Job: this.partFor(job, block, region) };
    const res = await this.fetch(`${this.base(region)}/v1/jobs${q}`, {
      method: 'PUT',
      headers: this.headers(req.token),
      body: JSON.stringify(body),
      signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(30_000)]),
    });
    const text = await res.text();
    if (!res.ok)
      throw new DroverError(
        res.status === 400 ? 'BadRequest' : 'Unavailable',
        `registering job "${job.ID}" in region "${region}" failed: ${text}`,
      );
    const reg = JSON.parse(text) as Registration;
    this.opts.logger.info('multiregion job registered', { job_id: job.ID, region });
    return { reply: new JsonReply(reg, Number(res.headers.get('x-nomad-index')) || undefined), reg };
  }

  private async rollout(row: MultiregionRollout, signal: AbortSignal): Promise<void> {
    const job = row.Job;
    const block = job.Multiregion as MultiregionBlock;
    const req: RolloutRequest = { namespace: row.Namespace, token: row.Token, body: row.Body };
    const max = row.MaxParallel;
    // Regions start in order: the ones in row.Regions are a prefix of Order.
    let next = row.Order.filter((r) => row.Regions[r] !== undefined).length;
    const inflight = new Map<string, Promise<{ region: string; dep: DeploymentShape | undefined }>>();
    const watch = (region: string, reg: Registration) =>
      inflight.set(
        region,
        this.waitDeployment(job, region, reg, req, signal).then((dep) => ({ region, dep })),
      );
    for (const [region, r] of Object.entries(row.Regions))
      if (r.Status === 'started') watch(region, { JobModifyIndex: r.JobModifyIndex });
    let stopped = false;
    while (inflight.size > 0) {
      const { region, dep } = await Promise.race(inflight.values());
      inflight.delete(region);
      if (signal.aborted) return;
      const ok = dep?.Status === 'successful';
      this.opts.logger.info('multiregion region finished', {
        job_id: job.ID,
        region,
        status: dep?.Status ?? 'no deployment',
      });
      row.Regions[region] = { ...row.Regions[region], Status: dep?.Status ?? 'no deployment' };
      if (!ok && row.OnFailure !== 'fail_local') {
        stopped = true;
        row.Status = 'stopped';
        if (row.OnFailure === 'fail_all')
          for (const other of inflight.keys()) await this.failDeployment(job, other, req);
        this.opts.logger.warn('multiregion rollout stopped: later regions are not started', {
          job_id: job.ID,
          failed_region: region,
          not_started: row.Order.slice(next).join(','),
        });
      }
      await this.persist(row);
      while (!stopped && next < row.Order.length && inflight.size < max) {
        const r = row.Order[next++]!;
        const { reg } = await this.register(job, block, r, req);
        row.Regions[r] = { Status: 'started', JobModifyIndex: reg.JobModifyIndex };
        await this.persist(row);
        watch(r, reg);
      }
    }
    if (signal.aborted) return;
    if (!stopped) row.Status = 'complete';
    await this.persist(row);
  }

  /** The region's deployment for this registration, once it is terminal (undefined: none was made). */
  private async waitDeployment(
    job: Job,
    region: string,
    reg: Registration,
    req: { namespace?: string; token?: string },
    signal: AbortSignal,
  ): Promise<DeploymentShape | undefined> {
    const deadline = Date.now() + (this.opts.regionTimeoutMs ?? 3_600_000);
    const q = new URLSearchParams({ namespace: req.namespace ?? 'default' });
    while (!signal.aborted && Date.now() < deadline) {
      try {
        const res = await this.fetch(`${this.base(region)}/v1/job/${encodeURIComponent(job.ID)}/deployment?${q}`, {
          headers: this.headers(req.token),
          signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
        });
        if (res.ok) {
          const dep = (await res.json()) as DeploymentShape | null;
          const current = dep && (dep.JobSpecModifyIndex ?? dep.JobModifyIndex ?? 0) >= (reg.JobModifyIndex ?? 0);
          if (current && !['running', 'paused', 'pending', 'blocked', 'initializing'].includes(dep.Status)) return dep;
        }
      } catch (e) {
        if (signal.aborted) break;
        this.opts.logger.warn('multiregion: region unreachable', { job_id: job.ID, region, error: String(e) });
      }
      await sleep(POLL_MS, signal);
    }
    return undefined;
  }

  private async failDeployment(job: Job, region: string, req: { namespace?: string; token?: string }): Promise<void> {
    try {
      const q = new URLSearchParams({ namespace: req.namespace ?? 'default' });
      const res = await this.fetch(`${this.base(region)}/v1/job/${encodeURIComponent(job.ID)}/deployment?${q}`, {
        headers: this.headers(req.token),
        signal: AbortSignal.timeout(10_000),
      });
      const dep = (await res.json()) as DeploymentShape | null;
      if (!dep) return;
      await this.fetch(`${this.base(region)}/v1/deployment/fail/${dep.ID}?${q}`, {
        method: 'PUT',
        headers: this.headers(req.token),
        signal: AbortSignal.timeout(10_000),
      });
      this.opts.logger.warn('multiregion: deployment failed (on_failure = "fail_all")', { job_id: job.ID, region });
    } catch (e) {
      this.opts.logger.error('multiregion: failing a region deployment failed', { region, error: String(e) });
    }
  }
}
