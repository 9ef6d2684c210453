/**
 * A deployment's progress per task group, as `deployment status` prints it and `deployment status -monitor`
 * (deployment-monitor.ts) reprints it on every change: its own file so neither command imports the other.
 */
import type { Deployment } from '../../structs/index.js';
import { formatKV, formatRFC3339, formatTable, shortId } from '../format.js';

export function deploymentView(d: Deployment, verbose: boolean): string {
  const kv = formatKV([
    ['ID', shortId(d.ID, verbose)],
    ['Job ID', d.JobID],
    ['Job Version', String(d.JobVersion)],
    ['Status', d.Status],
    ['Description', d.StatusDescription],
  ]);
  const groups = Object.keys(d.TaskGroups ?? {}).sort();
  const canaries = groups.some((g) => d.TaskGroups[g]!.DesiredCanaries > 0);
  const autoRevert = groups.some((g) => d.TaskGroups[g]!.AutoRevert);
  const head = [
    'Task Group',
    ...(autoRevert ? ['Auto Revert'] : []),
    ...(canaries ? ['Promoted'] : []),
    'Desired',
    ...(canaries ? ['Canaries'] : []),
    'Placed',
    'Healthy',
    'Unhealthy',
    'Progress Deadline',
  ];
  const rows = groups.map((g) => {
    const s = d.TaskGroups[g]!;
    return [
      g,
      ...(autoRevert ? [String(s.AutoRevert)] : []),
      ...(canaries ? [String(s.Promoted)] : []),
      String(s.DesiredTotal),
      ...(canaries ? [String(s.DesiredCanaries)] : []),
      String(s.PlacedAllocs),
      String(s.HealthyAllocs),
      String(s.UnhealthyAllocs),
      formatRFC3339(s.RequireProgressBy),
    ];
  });
  return groups.length > 0 ? `${kv}\n\nDeployed\n${formatTable([head, ...rows])}` : kv;
}
