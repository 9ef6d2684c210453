/** `drover node status [-verbose] [ID]`: the node list, or one node with its resources and allocations. */
import type { DroverClient } from '../../api/index.js';
import { allocTerminalStatus, type Allocation, type Node } from '../../structs/index.js';
import { command, bool, type CommandContext, verboseOption } from '../command.js';
import { formatKV, formatMB, formatTable, orNone, shortId } from '../format.js';
import { byNewest, nodeListRows, querying, resolveNode, when } from './common.js';

/** Used / total of CPU, memory and disk over the node's live allocations. */
export function allocatedResourceRows(node: Node, allocs: Allocation[]): string[][] {
  let cpu = 0;
  let mem = 0;
  let disk = 0;
  for (const a of allocs) {
    if (allocTerminalStatus(a)) continue;
    for (const t of Object.values(a.AllocatedResources?.Tasks ?? {})) {
      cpu += t.Cpu?.CpuShares ?? 0;
      mem += t.Memory?.MemoryMB ?? 0;
    }
    disk += a.AllocatedResources?.Shared?.DiskMB ?? 0;
  }
  const r = node.NodeResources;
  const res = node.ReservedResources;
  const totalCpu = (r?.Cpu?.CpuShares ?? 0) - (res?.Cpu?.CpuShares ?? 0);
  const totalMem = (r?.Memory?.MemoryMB ?? 0) - (res?.Memory?.MemoryMB ?? 0);
  const totalDisk = (r?.Disk?.DiskMB ?? 0) - (res?.Disk?.DiskMB ?? 0);
  return [
    ['CPU', 'Memory', 'Disk'],
    [`${cpu}/${totalCpu} MHz`, `${formatMB(mem)}/${formatMB(totalMem)}`, `${formatMB(disk)}/${formatMB(totalDisk)}`],
  ];
}

function nodePairs(n: Node, verbose: boolean): [string, string][] {
  const drivers = Object.entries(n.Drivers ?? {})
    .filter(([, d]) => d.Detected && d.Healthy)
    .map(([name]) => name)
    .sort();
  return [
    ['ID', shortId(n.ID, verbose)],
    ['Name', n.Name],
    ['Node Pool', n.NodePool || 'default'],
    ['Class', orNone(n.NodeClass)],
    ['DC', n.Datacenter],
    ['Drain', n.DrainStrategy ? `true; deadline ${n.DrainStrategy.ForceDeadline || 'none'}` : 'false'],
    ['Eligibility', n.SchedulingEligibility],
    ['Status', n.Status],
    ['Address', orNone(n.HTTPAddr)],
    ['Drivers', drivers.join(',') || '<none>'],
  ];
}

function nodeAllocRows(allocs: Allocation[], ctx: CommandContext, verbose: boolean): string[][] {
  const rows = [['ID', 'Job ID', 'Task Group', 'Version', 'Desired', 'Status', 'Created', 'Modified']];
  for (const a of byNewest(allocs)) {
    rows.push([
      shortId(a.ID, verbose),
      a.JobID,
      a.TaskGroup,
      String(a.Job?.Version ?? 0),
      a.DesiredStatus,
      a.ClientStatus,
      when(a.CreateTime, ctx, verbose),
      when(a.ModifyTime, ctx, verbose),
    ]);
  }
  return rows;
}

async function showNode(ctx: CommandContext, client: DroverClient, id: string, verbose: boolean): Promise<number> {
  const stub = await resolveNode(ctx, client, id, verbose);
  const node = (await querying('node', client.nodes.get(stub.ID, { signal: ctx.signal }))).value;
  if (ctx.out.json) {
    ctx.out.printJSON(node);
    return 0;
  }
  const allocs = (await client.nodes.allocations(node.ID, { signal: ctx.signal })).value ?? [];
  ctx.out.kv(nodePairs(node, verbose));
  ctx.out.section('Allocated Resources', formatTable(allocatedResourceRows(node, allocs)));
  const live = verbose ? allocs : allocs.filter((a) => !allocTerminalStatus(a));
  ctx.out.section(
    'Allocations',
    live.length > 0 ? formatTable(nodeAllocRows(live, ctx, verbose)) : 'No allocations placed',
  );
  if (verbose) {
    const attrs = Object.entries(node.Attributes ?? {}).sort(([a], [b]) => a.localeCompare(b));
    ctx.out.section('Attributes', formatKV(attrs));
    const meta = Object.entries(node.Meta ?? {}).sort(([a], [b]) => a.localeCompare(b));
    if (meta.length > 0) ctx.out.section('Meta', formatKV(meta));
  }
  return 0;
}

export const nodeStatus = command('node status [id]', {
  legacy: [['node-status']],
  summary: 'List client nodes, or show one node',
  options: [verboseOption('full IDs, attributes, and terminal allocations')],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const verbose = bool(opts.verbose);
    if (id) return showNode(ctx, client, id, verbose);
    const nodes = (await client.nodes.list({ signal: ctx.signal })).value ?? [];
    ctx.out.list(nodes, 'No nodes registered', (ns) => nodeListRows(ns, verbose));
    return 0;
  },
});
