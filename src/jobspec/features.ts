/**
 * Which jobspec features a job uses, so `job run` can say which ones this build parses but does
 * not act on yet, instead of dropping them silently.
 */
import type { Job } from '../structs/index.js';

type Obj = Record<string, any>;
const has = (v: unknown) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);

/** Feature names, as block names in the job file, that `job` uses. */
export function usedFeatures(job: Job): Set<string> {
  const f = new Set<string>();
  const j = job as Obj;
  const mark = (cond: unknown, name: string) => {
    if (has(cond) && cond !== false) f.add(name);
  };
  mark(j.Update, 'update');
  mark(j.Migrate, 'migrate');
  mark(j.Reschedule, 'reschedule');
  mark(j.Spreads, 'spread');
  mark(j.Affinities, 'affinity');
  mark(j.Constraints, 'constraint');
  mark(j.Periodic, 'periodic');
  mark(j.ParameterizedJob, 'parameterized');
  mark(j.Multiregion, 'multiregion');
  mark(j.Vault, 'vault');
  mark(j.Consul, 'consul');
  mark(j.UI, 'ui');
  for (const g of (j.TaskGroups as Obj[] | undefined) ?? []) {
    mark(g.Update, 'update');
    mark(g.Migrate, 'migrate');
    mark(g.ReschedulePolicy, 'reschedule');
    mark(g.Spreads, 'spread');
    mark(g.Affinities, 'affinity');
    mark(g.Constraints, 'constraint');
    mark(g.RestartPolicy, 'restart');
    mark(g.EphemeralDisk, 'ephemeral_disk');
    mark(g.Networks, 'network');
    mark(g.Services, 'service');
    mark(g.Volumes && Object.keys(g.Volumes).length ? g.Volumes : null, 'volume');
    mark(g.Scaling, 'scaling');
    mark(g.Disconnect, 'disconnect');
    mark(g.Consul, 'consul');
    for (const s of g.Services ?? []) {
      mark(s.Checks, 'check');
      mark(s.Connect, 'connect');
    }
    for (const t of g.Tasks ?? []) {
      mark(t.Services, 'service');
      mark(t.Templates, 'template');
      mark(t.Artifacts, 'artifact');
      mark(t.VolumeMounts, 'volume_mount');
      mark(t.Lifecycle, 'lifecycle');
      mark(t.Vault, 'vault');
      mark(t.Consul, 'consul');
      mark(t.Identity ?? t.Identities, 'identity');
      mark(t.DispatchPayload, 'dispatch_payload');
      mark(t.LogConfig, 'logs');
      mark(t.RestartPolicy, 'restart');
      mark(t.Constraints, 'constraint');
      mark(t.Affinities, 'affinity');
      mark(t.ScalingPolicies, 'scaling');
      mark(t.CSIPluginConfig, 'csi_plugin');
      mark(t.Actions, 'action');
      mark(t.Resources?.Devices, 'device');
      mark(t.Resources?.Networks, 'network');
      for (const s of t.Services ?? []) {
        mark(s.Checks, 'check');
        mark(s.Connect, 'connect');
      }
      for (const tp of t.Templates ?? []) mark(tp.ChangeScript, 'change_script');
    }
  }
  return f;
}

/** One warning per feature the job uses that is not in `supported`. */
export function unsupportedFeatureWarnings(job: Job, supported: Set<string>): string[] {
  return [...usedFeatures(job)]
    .filter((name) => !supported.has(name))
    .sort()
    .map((name) => `the "${name}" block is parsed but not yet acted on by Drover: it is ignored`);
}
