/**
 * The "What if" view's logic, apart from drawing so it is unit tested in Node: the form's fields turned into a
 * `PUT /v1/operator/sim` body (each bad field named before anything is sent), and the simulation's answer laid
 * out as the topology lays out a cluster: per datacenter, a box per node whose bars show what stays, what the
 * simulation would place (per job, marked new) and what it would free (stopped, lost or preempted).
 */
import type * as S from '../../../structs/index.js';
import { percent } from '../topology.js';

/** The form as typed: every field a string, as the inputs give them. */
export interface SimForm {
  addCount: string;
  addLike: string;
  addCPU: string;
  addMemoryMB: string;
  removeNodes: string;
  drainNodes: string;
  failDatacenters: string;
  scaleJob: string;
  scaleGroup: string;
  scaleCount: string;
  maxJob: string;
  maxGroup: string;
  namespace: string;
}

export const EMPTY_FORM: SimForm = {
  addCount: '',
  addLike: '',
  addCPU: '',
  addMemoryMB: '',
  removeNodes: '',
  drainNodes: '',
  failDatacenters: '',
  scaleJob: '',
  scaleGroup: '',
  scaleCount: '',
  maxJob: '',
  maxGroup: '',
  namespace: '',
};

/** A problem with one field of the form, by the field's label. */
export interface FormProblem {
  field: keyof SimForm | 'job';
  message: string;
}

/** "a, b c" → ["a", "b", "c"]: node names, IDs and datacenters never hold commas or spaces. */
export function splitList(s: string): string[] {
  return s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

function wholeNumber(s: string, min: number): number | undefined {
  const t = s.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) && n >= min ? n : undefined;
}

/**
 * The request body for the form, with `job` (a pasted job, already parsed) registered in the copy. Problems
 * name the field; an empty form (no what-if at all) is a problem too, since the answer would say nothing.
 */
export function buildSimRequest(
  f: SimForm,
  job?: Record<string, unknown>,
): { request: S.SimRequest; problems: FormProblem[] } {
  const problems: FormProblem[] = [];
  const request: S.SimRequest = {};
  if (f.namespace.trim()) request.Namespace = f.namespace.trim();
  if (f.addCount.trim() || f.addLike.trim()) {
    const count = wholeNumber(f.addCount, 1);
    if (count === undefined) problems.push({ field: 'addCount', message: 'how many nodes: a whole number from 1' });
    if (!f.addLike.trim()) problems.push({ field: 'addLike', message: 'which node the new ones copy' });
    const add: S.SimAddNodes = { Count: count ?? 0, Like: f.addLike.trim() };
    for (const [field, key] of [
      ['addCPU', 'CPU'],
      ['addMemoryMB', 'MemoryMB'],
    ] as const) {
      if (!f[field].trim()) continue;
      const v = wholeNumber(f[field], 1);
      if (v === undefined) problems.push({ field, message: 'a whole number from 1, or empty for the copied size' });
      else add[key] = v;
    }
    request.AddNodes = [add];
  }
  const remove = splitList(f.removeNodes);
  if (remove.length) request.RemoveNodes = remove;
  const drain = splitList(f.drainNodes);
  if (drain.length) request.DrainNodes = drain;
  const dcs = splitList(f.failDatacenters);
  if (dcs.length) request.FailDatacenters = dcs;
  if (f.scaleJob.trim() || f.scaleCount.trim()) {
    const count = wholeNumber(f.scaleCount, 0);
    if (!f.scaleJob.trim()) problems.push({ field: 'scaleJob', message: 'which job to scale' });
    if (count === undefined) problems.push({ field: 'scaleCount', message: 'the new count: a whole number from 0' });
    request.Scale = [{ JobID: f.scaleJob.trim(), Group: f.scaleGroup.trim(), Count: count ?? 0 }];
  }
  if (job) request.Jobs = [job as unknown as S.Job];
  if (f.maxJob.trim()) request.MaxCount = { JobID: f.maxJob.trim(), Group: f.maxGroup.trim() };
  const asks = ['AddNodes', 'RemoveNodes', 'DrainNodes', 'FailDatacenters', 'Scale', 'Jobs', 'MaxCount'] as const;
  if (problems.length === 0 && !asks.some((k) => request[k] != null))
    problems.push({
      field: 'addCount',
      message: 'ask at least one what-if (add, remove, drain, fail, scale, a job, or the largest count)',
    });
  return { request, problems };
}

/** One segment of a node's bar. */
export interface SimSegment {
  kind: 'kept' | 'placed' | 'freed';
  /** Width in percent of the node's capacity. */
  width: number;
  /** For placed segments: whose, and how many instances. */
  jobId?: string;
  namespace?: string;
  group?: string;
  count?: number;
  amount: number;
}

export interface SimNodeBox {
  node: S.SimNodeUsage;
  cpu: SimSegment[];
  memory: SimSegment[];
  /** Words for the node's state after the what-ifs: "added", "down", "ineligible", "3 preempted"... */
  marks: string[];
}

export interface SimPicture {
  datacenters: { datacenter: string; nodes: SimNodeBox[] }[];
  placed: number;
  unplaced: number;
  preempted: number;
}

/**
 * A node's bar for one dimension: what it keeps of what ran before, then each group placed on it (new), then
 * what the simulation freed there (ran before, gone after). Widths in percent of the capacity, at most 100 in all.
 */
export function segments(
  usedAfter: number,
  usedBefore: number,
  total: number,
  placed: readonly S.SimNodePlacement[],
  dim: 'CPU' | 'MemoryMB',
): SimSegment[] {
  const placedSum = placed.reduce((s, p) => s + p[dim], 0);
  const kept = Math.max(0, usedAfter - placedSum);
  const freed = Math.max(0, usedBefore - kept);
  const out: SimSegment[] = [];
  let room = 100;
  const push = (s: Omit<SimSegment, 'width'>) => {
    const width = Math.min(room, percent(s.amount, total));
    if (s.amount <= 0 || width <= 0) return;
    room -= width;
    out.push({ ...s, width });
  };
  push({ kind: 'kept', amount: kept });
  for (const p of placed)
    push({
      kind: 'placed',
      amount: p[dim],
      jobId: p.JobID,
      namespace: p.Namespace,
      group: p.TaskGroup,
      count: p.Count,
    });
  push({ kind: 'freed', amount: freed });
  return out;
}

export function simPicture(r: S.SimResult): SimPicture {
  const byDc = new Map<string, SimNodeBox[]>();
  for (const n of r.Nodes) {
    const marks: string[] = [];
    if (n.Added) marks.push('added');
    if (n.Status !== 'ready') marks.push(n.Status);
    if (n.SchedulingEligibility === 'ineligible') marks.push('ineligible');
    const placedHere = n.Placed.reduce((s, p) => s + p.Count, 0);
    if (placedHere) marks.push(`${placedHere} placed`);
    if (n.Stopped) marks.push(`${n.Stopped} stopped`);
    if (n.Preempted) marks.push(`${n.Preempted} preempted`);
    const box: SimNodeBox = {
      node: n,
      cpu: segments(n.CPU.Used, n.CPUBefore, n.CPU.Total, n.Placed, 'CPU'),
      memory: segments(n.MemoryMB.Used, n.MemoryMBBefore, n.MemoryMB.Total, n.Placed, 'MemoryMB'),
      marks,
    };
    const list = byDc.get(n.Datacenter) ?? [];
    list.push(box);
    byDc.set(n.Datacenter, list);
  }
  // Added nodes first in their datacenter, then by name: the what-if's new capacity is what the eye looks for.
  const datacenters = [...byDc.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([datacenter, nodes]) => ({
      datacenter,
      nodes: nodes.sort(
        (a, b) => Number(b.node.Added) - Number(a.node.Added) || a.node.Name.localeCompare(b.node.Name),
      ),
    }));
  return {
    datacenters,
    placed: r.Groups.reduce((s, g) => s + g.Placed, 0),
    unplaced: r.Groups.reduce((s, g) => s + g.Unplaced, 0),
    preempted: r.Preemptions.length,
  };
}
