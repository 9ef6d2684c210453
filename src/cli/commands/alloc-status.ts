/** `drover alloc status [-stats] [-verbose] ID`: one allocation, its tasks, events, resources and usage. */
import type { AllocCheckStatus, AllocResourceUsage, DroverClient, ResourceUsage } from '../../api/index.js';
import type { Allocation, TaskEvent, TaskState } from '../../structs/index.js';
import { command, bool, type CommandContext, verboseOption } from '../command.js';
import {
  formatBytes,
  formatKV,
  formatMB,
  formatRFC3339,
  formatTable,
  formatTime,
  nsToMs,
  orNone,
  shortId,
} from '../format.js';
import { optional, querying, resolveAlloc, when } from './common.js';

const RECENT_EVENTS = 10;

function allocPairs(a: Allocation, ctx: CommandContext, verbose: boolean): [string, string][] {
  const pairs: [string, string][] = [
    ['ID', shortId(a.ID, verbose)],
    ['Eval ID', shortId(a.EvalID, verbose)],
    ['Name', a.Name],
    ['Node ID', shortId(a.NodeID, verbose)],
    ['Node Name', a.NodeName],
    ['Job ID', a.JobID],
    ['Job Version', String(a.Job?.Version ?? 0)],
    ['Client Status', a.ClientStatus],
    ['Client Description', orNone(a.ClientDescription)],
    ['Desired Status', a.DesiredStatus],
    ['Desired Description', orNone(a.DesiredDescription)],
    ['Created', when(a.CreateTime, ctx, verbose)],
    ['Modified', when(a.ModifyTime, ctx, verbose)],
  ];
  if (a.DeploymentID) {
    const h = a.DeploymentStatus?.Healthy;
    pairs.push(
      ['Deployment ID', shortId(a.DeploymentID, verbose)],
      ['Deployment Health', h == null ? 'unset' : h ? 'healthy' : 'unhealthy'],
    );
  }
  const mode = a.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup)?.Networks?.[0]?.Mode;
  if (mode && mode !== 'host')
    pairs.push(['Network', `${mode}${allocAddress(a) ? `, address ${allocAddress(a)}` : ''}`]);
  if (a.PreviousAllocation) pairs.push(['Previous Allocation', shortId(a.PreviousAllocation, verbose)]);
  if (a.NextAllocation) pairs.push(['Replacement Alloc ID', shortId(a.NextAllocation, verbose)]);
  if (a.FollowupEvalID) pairs.push(['Follow-up Evaluation', shortId(a.FollowupEvalID, verbose)]);
  if (verbose && a.Metrics) {
    const m = a.Metrics;
    pairs.push(
      ['Evaluated Nodes', String(m.NodesEvaluated)],
      ['Filtered Nodes', String(m.NodesFiltered)],
      ['Exhausted Nodes', String(m.NodesExhausted)],
      ['Allocation Time', `${(m.AllocationTime / 1e6).toFixed(3)}ms`],
      ['Failures', String(m.CoalescedFailures)],
    );
  }
  return pairs;
}

/** The allocation's ports: label, whether it was dynamic, and host address (with the mapped port). */
/** The allocation's address inside its own network namespace ('' in host mode). */
function allocAddress(a: Allocation): string {
  const st = a.NetworkStatus as { Address?: unknown } | null | undefined;
  return typeof st?.Address === 'string' ? st.Address : '';
}

export function addressRows(a: Allocation): string[][] {
  const dynamic = new Set<string>();
  const group = a.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup);
  for (const n of group?.Networks ?? []) for (const p of n.DynamicPorts ?? []) dynamic.add(p.Label);
  const rows: string[][] = [];
  // In bridge / CNI mode the host port maps to the allocation's own address: show both ends.
  const inner = allocAddress(a);
  for (const p of a.AllocatedResources?.Shared?.Ports ?? []) {
    const to = inner ? ` -> ${inner}:${p.To > 0 ? p.To : p.Value}` : p.To > 0 && p.To !== p.Value ? ` -> ${p.To}` : '';
    rows.push([p.Label, dynamic.has(p.Label) ? 'yes' : 'no', `${p.HostIP}:${p.Value}${to}`]);
  }
  if (rows.length === 0) {
    for (const n of a.AllocatedResources?.Shared?.Networks ?? []) {
      for (const p of n.ReservedPorts ?? []) rows.push([p.Label, 'no', `${n.IP}:${p.Value}`]);
      for (const p of n.DynamicPorts ?? []) rows.push([p.Label, 'yes', `${n.IP}:${p.Value}`]);
    }
  }
  return rows.length > 0 ? [['Label', 'Dynamic', 'Address'], ...rows] : [];
}

function eventDescription(e: TaskEvent): string {
  if (e.DisplayMessage) return e.DisplayMessage;
  if (e.Message) return e.Message;
  if (e.Type === 'Terminated') return `Exit Code: ${e.ExitCode ?? 0}${e.Signal ? `, Signal: ${e.Signal}` : ''}`;
  return e.DriverError || e.KillReason || e.RestartReason || e.SetupError || e.ValidationError || e.DownloadError || '';
}

/** Recent events, newest first: Time, Type, Description. */
export function eventRows(state: TaskState, verbose: boolean): string[][] {
  const events = [...(state.Events ?? [])].sort((x, y) => y.Time - x.Time);
  const shown = verbose ? events : events.slice(0, RECENT_EVENTS);
  return [
    ['Time', 'Type', 'Description'],
    ...shown.map((e) => [formatTime(nsToMs(e.Time)), e.Type, eventDescription(e)]),
  ];
}

/** The "Task Resources" table: used/allocated when usage is known, allocated otherwise. */
export function resourceRows(a: Allocation, task: string, usage: ResourceUsage | null | undefined): string[][] {
  const t = a.AllocatedResources?.Tasks?.[task];
  const jt = a.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup)?.Tasks.find((x) => x.Name === task);
  const cpu = t?.Cpu?.CpuShares ?? jt?.Resources.CPU ?? 0;
  const mem = t?.Memory?.MemoryMB ?? jt?.Resources.MemoryMB ?? 0;
  const disk = a.AllocatedResources?.Shared?.DiskMB ?? 0;
  const cpuText = usage?.CpuStats ? `${Math.round(usage.CpuStats.TotalTicks)}/${cpu} MHz` : `${cpu} MHz`;
  const ms = usage?.MemoryStats;
  const used = ms ? ms.RSS || ms.Usage : undefined;
  const memText = used !== undefined ? `${formatBytes(used)}/${formatMB(mem)}` : formatMB(mem);
  const addrs = (a.AllocatedResources?.Shared?.Ports ?? []).map((p) => `${p.Label}: ${p.HostIP}:${p.Value}`).join(', ');
  return [
    ['CPU', 'Memory', 'Disk', 'Addresses'],
    [cpuText, memText, formatMB(disk), addrs],
  ];
}

/** The `-stats` detail: memory and cpu tables as nomad prints them. */
export function statsTables(usage: ResourceUsage): string {
  const parts: string[] = [];
  const m = usage.MemoryStats;
  if (m) {
    parts.push(
      'Memory Stats',
      formatTable([
        ['Cache', 'Max Usage', 'RSS', 'Swap', 'Usage'],
        [formatBytes(m.Cache), formatBytes(m.MaxUsage), formatBytes(m.RSS), formatBytes(m.Swap), formatBytes(m.Usage)],
      ]),
    );
  }
  const c = usage.CpuStats;
  if (c) {
    if (parts.length > 0) parts.push('');
    parts.push(
      'CPU Stats',
      formatTable([
        ['Percent', 'System Mode', 'Throttled Periods', 'Throttled Time', 'User Mode'],
        [
          `${c.Percent.toFixed(2)}%`,
          `${c.SystemMode.toFixed(2)}%`,
          String(c.ThrottledPeriods),
          String(c.ThrottledTime),
          `${c.UserMode.toFixed(2)}%`,
        ],
      ]),
    );
  }
  return parts.join('\n');
}

function printTask(
  ctx: CommandContext,
  a: Allocation,
  name: string,
  stats: AllocResourceUsage | undefined,
  opts: { verbose: boolean; stats: boolean },
): void {
  const state = a.TaskStates?.[name];
  const out = ctx.out;
  out.line();
  out.line(`Task "${name}" is "${state?.State ?? 'pending'}"`);
  const usage = stats?.Tasks?.[name]?.ResourceUsage;
  out.line('Task Resources:');
  out.table(resourceRows(a, name, usage));
  if (opts.stats) {
    if (usage) out.section('', statsTables(usage).trimEnd());
    else out.section('', 'Resource usage is not available for this task');
  }
  if (!state) return;
  out.section(
    'Task Events:',
    formatKV([
      ['Started At', formatRFC3339(state.StartedAt)],
      ['Finished At', formatRFC3339(state.FinishedAt)],
      ['Total Restarts', String(state.Restarts ?? 0)],
      ['Last Restart', formatRFC3339(state.LastRestart)],
    ]),
  );
  out.section('Recent Events:', formatTable(eventRows(state, opts.verbose)));
}

/** Nomad 1.4+'s "Nomad Service Checks" table: one row per check, group services showing "(group)" as task. */
export function checkRows(checks: Record<string, AllocCheckStatus>): string[][] {
  const list = Object.values(checks).sort(
    (x, y) => x.Service.localeCompare(y.Service) || x.Task.localeCompare(y.Task) || x.Check.localeCompare(y.Check),
  );
  if (list.length === 0) return [];
  return [
    ['Service', 'Task', 'Name', 'Mode', 'Status'],
    ...list.map((c) => [c.Service, c.Task || '(group)', c.Check, c.Mode, c.Status]),
  ];
}

/** Tasks in the job's order (so prestart tasks come first, as written), then any others the client reported. */
function taskNames(a: Allocation): string[] {
  const group = a.Job?.TaskGroups?.find((g) => g.Name === a.TaskGroup);
  const names = (group?.Tasks ?? []).map((t) => t.Name);
  for (const n of Object.keys(a.TaskStates ?? {}).sort()) if (!names.includes(n)) names.push(n);
  return names;
}

export async function showAlloc(
  ctx: CommandContext,
  client: DroverClient,
  id: string,
  opts: { verbose: boolean; stats: boolean },
): Promise<number> {
  const stub = await resolveAlloc(ctx, client, id, opts.verbose);
  const a = (await querying('allocation', client.allocations.get(stub.ID, { signal: ctx.signal }))).value;
  if (ctx.out.json) {
    ctx.out.printJSON(a);
    return 0;
  }
  const running = a.ClientStatus === 'running' || a.ClientStatus === 'pending';
  const stats = running ? await optional(client.allocations.stats(a.ID, { signal: ctx.signal })) : undefined;
  ctx.out.kv(allocPairs(a, ctx, opts.verbose));
  const addrs = addressRows(a);
  if (addrs.length > 0) ctx.out.section('Allocation Addresses:', formatTable(addrs));
  const checks = running ? await optional(client.allocations.checks(a.ID, { signal: ctx.signal })) : undefined;
  const checkTable = checkRows(checks ?? {});
  if (checkTable.length > 0) ctx.out.section('Nomad Service Checks:', formatTable(checkTable));
  if (opts.stats && !stats)
    ctx.out.section('', `Couldn't retrieve stats${running ? '' : ': the allocation is not running'}`.trim());
  for (const t of taskNames(a)) printTask(ctx, a, t, stats, opts);
  return 0;
}

export const allocStatus = command('alloc status <id>', {
  summary: 'Show an allocation: status, tasks, events, addresses and resource usage',
  options: [
    { flags: '--stats', description: 'detailed memory and cpu usage' },
    verboseOption('full IDs, absolute times, placement metrics, all events'),
  ],
  run: (ctx, [id], opts) => showAlloc(ctx, ctx.client(), id!, { verbose: bool(opts.verbose), stats: bool(opts.stats) }),
});
