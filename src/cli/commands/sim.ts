/**
 * `drover sim`: "what if" before doing it. The what-ifs go to `PUT /v1/operator/sim` (the live state, copied,
 * never written), or with `-snapshot FILE` run here over a saved snapshot with no agent at all.
 *
 *   drover sim -add-nodes 2 -like client-1          does the blocked job fit with two more nodes like client-1?
 *   drover sim -max-count web                        how many instances of web fit?
 *   drover sim -fail-datacenter dc2 -job api.hcl     what if dc2 goes down while api is deployed?
 */
import { int, str, strs, UsageError, verboseOption, bool, type CommandSpec, type Opts } from '../command.js';
import { formatAllocMetrics } from '../placement.js';
import type { Output } from '../output.js';
import type { Job, SimRequest, SimResult, SimScale } from '../../structs/index.js';
import { loadJobFile, VAR_OPTIONS } from './job-load.js';

/** Exit code when some placement of an evaluated group would fail. */
export const SIM_UNPLACED_EXIT = 2;

function jobGroup(flag: string, v: string): { JobID: string; Group: string } {
  const [job, group = ''] = v.split('/', 2);
  if (!job) throw new UsageError(`${flag} "${v}": expected JOB or JOB/GROUP`);
  return { JobID: job, Group: group };
}

function scaleOf(v: string): SimScale {
  const m = /^([^=]+)=(\d+)$/.exec(v);
  if (!m) throw new UsageError(`-scale "${v}": expected JOB[/GROUP]=COUNT, e.g. -scale web=5`);
  return { ...jobGroup('-scale', m[1]!), Count: Number(m[2]) };
}

/** The request the flags describe; job files are parsed here, with file:line errors, before anything is sent. */
async function requestOf(ctx: Parameters<CommandSpec['run']>[0], opts: Opts): Promise<SimRequest | undefined> {
  const req: SimRequest = { Namespace: ctx.globals.namespace };
  const add = int(opts.addNodes);
  const like = str(opts.like);
  if (add !== undefined) {
    if (!like)
      throw new UsageError('-add-nodes needs -like NODE: the node the new ones copy (drivers, datacenter, size)');
    req.AddNodes = [
      {
        Count: add,
        Like: like,
        ...(str(opts.class) !== undefined ? { NodeClass: str(opts.class) } : {}),
        ...(int(opts.cpu) !== undefined ? { CPU: int(opts.cpu) } : {}),
        ...(int(opts.memory) !== undefined ? { MemoryMB: int(opts.memory) } : {}),
      },
    ];
  } else if (like || str(opts.class) !== undefined || int(opts.cpu) !== undefined || int(opts.memory) !== undefined)
    throw new UsageError('-like, -class, -cpu and -memory describe the nodes of -add-nodes N');
  req.RemoveNodes = strs(opts.removeNode);
  req.DrainNodes = strs(opts.drainNode);
  req.FailDatacenters = strs(opts.failDatacenter);
  req.Scale = strs(opts.scale).map(scaleOf);
  const maxCount = str(opts.maxCount);
  if (maxCount) req.MaxCount = jobGroup('-max-count', maxCount);
  const jobs: Job[] = [];
  for (const file of strs(opts.job)) {
    const loaded = await loadJobFile(ctx, file, opts);
    if (!loaded) return undefined;
    jobs.push(loaded.job);
  }
  req.Jobs = jobs;
  const any =
    req.AddNodes ??
    req.MaxCount ??
    [req.RemoveNodes, req.DrainNodes, req.FailDatacenters, req.Scale, jobs].find((l) => l.length > 0);
  if (any === undefined)
    throw new UsageError(
      'nothing to simulate: give at least one of -add-nodes, -remove-node, -drain-node, -fail-datacenter, -job, -scale, -max-count',
    );
  return req;
}

export const sim: CommandSpec = {
  path: ['sim'],
  summary: 'Show what the scheduler would do if nodes, jobs or counts changed (on a copy of the state)',
  options: [
    { flags: '--snapshot <file>', description: 'simulate over a snapshot file (operator snapshot save), offline' },
    { flags: '--add-nodes <n>', description: 'add N nodes (with -like)', int: true },
    { flags: '--like <node>', description: 'the node (ID, prefix or name) the added nodes copy' },
    { flags: '--class <class>', description: 'node class of the added nodes' },
    { flags: '--cpu <mhz>', description: 'CPU (MHz) of the added nodes', int: true },
    { flags: '--memory <mb>', description: 'memory (MB) of the added nodes', int: true },
    { flags: '--remove-node <node>', description: 'a node goes away (repeatable)', repeatable: true },
    { flags: '--drain-node <node>', description: 'a node is drained (repeatable)', repeatable: true },
    {
      flags: '--fail-datacenter <dc>',
      description: 'every node of a datacenter goes down (repeatable)',
      repeatable: true,
    },
    { flags: '--job <file>', description: 'a job file registered or updated (repeatable)', repeatable: true },
    { flags: '--scale <job[/group]=count>', description: "a group's count changes (repeatable)", repeatable: true },
    { flags: '--max-count <job[/group]>', description: 'find the largest count of the group that fits' },
    ...VAR_OPTIONS,
    verboseOption('list every node and show full IDs'),
  ],
  help:
    'Runs the real scheduler on a copy of the state; the cluster is never changed. ' +
    `Exit codes: 0 every evaluated group fits, ${SIM_UNPLACED_EXIT} some placements would fail, 1 error.`,
  async run(ctx, _args, opts) {
    const req = await requestOf(ctx, opts);
    if (!req) return 1;
    const file = str(opts.snapshot);
    let res: SimResult;
    if (file) {
      // Loaded only here, as `operator snapshot restore` does: the offline path runs a server over the file.
      const { simulateSnapshotFile } = await import('../../agent/index.js');
      res = await simulateSnapshotFile(file, req, ctx.signal);
    } else res = await ctx.client().operator.simulate(req, { signal: ctx.signal });
    if (ctx.out.json) ctx.out.printJSON(res);
    else printReport(ctx.out, res, bool(opts.verbose));
    return res.Groups.some((g) => g.Unplaced > 0) ? SIM_UNPLACED_EXIT : 0;
  },
};

const pct = (used: number, total: number) => (total > 0 ? `${Math.round((used / total) * 100)}%` : '-');
const use = (used: number, total: number) => `${used}/${total} (${pct(used, total)})`;

function groupStatus(g: SimResult['Groups'][number]): string {
  if (g.Unplaced > 0) return `does not fit: ${g.Unplaced} unplaced`;
  if (g.RunningBefore < g.Desired) return `fits (today ${g.RunningBefore} of ${g.Desired})`;
  return 'fits';
}

/** The report as tables, in the order a reader asks: what changed, did it fit, why not, where, what else. */
export function printReport(out: Output, r: SimResult, verbose: boolean): void {
  out.line(`Simulation over state index ${r.Index}: ${r.Evaluations} evaluations in ${r.DurationMs} ms`);
  for (const c of r.Changes) out.line(`  - ${c}`);
  if (r.Groups.length > 0) {
    out.line();
    out.table([
      ['Job', 'Group', 'Desired', 'Before', 'After', 'Placed', 'Stopped', 'Unplaced', 'Result'],
      ...r.Groups.map((g) => [
        g.JobID,
        g.TaskGroup,
        String(g.Desired),
        String(g.RunningBefore),
        String(g.Running),
        String(g.Placed),
        String(g.Stopped),
        String(g.Unplaced),
        groupStatus(g),
      ]),
    ]);
  }
  for (const g of r.Groups.filter((x) => x.Metrics != null)) {
    out.line();
    out.line(`Why ${g.JobID}/${g.TaskGroup} does not fit (${g.Unplaced} unplaced):`);
    for (const l of formatAllocMetrics(g.Metrics!, '  ')) out.line(l);
  }
  const nodes = verbose ? r.Nodes : r.Nodes.slice(0, 50);
  if (nodes.length > 0) {
    out.line();
    out.table([
      ['Node', 'DC', 'Class', 'Status', 'Eligibility', 'Allocs', 'CPU MHz', 'Memory MB', 'CPU before'],
      ...nodes.map((n) => [
        `${verbose ? n.ID : n.Name}${n.Added ? ' (new)' : ''}`,
        n.Datacenter,
        n.NodeClass || '<none>',
        n.Status,
        n.SchedulingEligibility,
        String(n.Allocs),
        use(n.CPU.Used, n.CPU.Total),
        use(n.MemoryMB.Used, n.MemoryMB.Total),
        pct(n.CPUBefore, n.CPU.Total),
      ]),
    ]);
    if (nodes.length < r.Nodes.length) out.line(`(${r.Nodes.length - nodes.length} more nodes: -verbose lists all)`);
  }
  const c = r.Capacity;
  out.line();
  out.line(
    `Capacity: ${c.Nodes} schedulable nodes, CPU ${use(c.CPU.Used, c.CPU.Total)} MHz, memory ${use(c.MemoryMB.Used, c.MemoryMB.Total)} MB`,
  );
  if (r.Preemptions.length > 0) {
    out.line();
    out.line(`Would be preempted (${r.Preemptions.length}):`);
    out.table([
      ['Alloc', 'Job', 'Group', 'Node', 'Preempted by'],
      ...r.Preemptions.map((p) => [
        verbose ? p.AllocID : p.AllocID.slice(0, 8),
        p.JobID,
        p.TaskGroup,
        verbose ? p.NodeID : p.NodeID.slice(0, 8),
        verbose ? p.PreemptedByAllocation : p.PreemptedByAllocation.slice(0, 8),
      ]),
    ]);
  }
  if (r.MaxCount) {
    const m = r.MaxCount;
    out.line();
    out.line(
      `Largest count of ${m.JobID}/${m.TaskGroup} that fits: ${m.Count} (count now ${m.Current}; ${m.Probes} scheduler runs)`,
    );
    if (m.Truncated) out.line(`The search stopped at its probe limit: a larger count may fit too.`);
    if (m.Metrics) {
      out.line(`One more does not fit:`);
      for (const l of formatAllocMetrics(m.Metrics, '  ')) out.line(l);
    }
  }
}
