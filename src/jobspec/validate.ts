/**
 * Struct-level validation of a job, as Nomad's server does on register: every problem is collected
 * with its struct path (`TaskGroups[0].Tasks[1].Resources.CPU`). Used for JSON jobs and API
 * registers, and by `parseJobHCL(..., { validate: true })`, which maps the paths back to
 * file:line:column. Works on canonical and non-canonical jobs alike (absent fields are skipped).
 */
import type { Problem } from '../errors/index.js';
import {
  groupNameProblem,
  jobIDProblem,
  jobNameProblem,
  namespaceNameProblem,
  serviceNameProblem,
  taskNameProblem,
  type Job,
} from '../structs/index.js';
import { regexSyntaxError } from '../lib/regex.js';
import { checkJobLimits } from './limits.js';
import { groupNetworkProblems } from './network-mode.js';

type Obj = Record<string, any>;
type Report = (path: string, message: string) => void;

const JOB_TYPES = ['service', 'batch', 'system', 'sysbatch'];
const CONSTRAINT_OPS = [
  '=',
  '==',
  'is',
  '!=',
  'not',
  '<',
  '<=',
  '>',
  '>=',
  'version',
  'semver',
  'regexp',
  'set_contains',
  'set_contains_all',
  'set_contains_any',
  'distinct_hosts',
  'distinct_property',
  'is_set',
  'is_not_set',
];
const set = (v: unknown): boolean => v !== undefined && v !== null;

export function validateJob(job: Job): Problem[] {
  const problems: Problem[] = [];
  const report: Report = (path, message) => problems.push({ path, message });
  const j = job as Obj;
  if (!j.ID) report('ID', 'missing job ID');
  else {
    const bad = jobIDProblem(j.ID);
    if (bad) report('ID', bad);
  }
  if (set(j.Name) && j.Name === '' && !j.ID) report('Name', 'missing job name');
  else if (set(j.Name)) {
    const bad = jobNameProblem(j.Name);
    if (bad) report('Name', bad);
  }
  if (set(j.Namespace) && j.Namespace !== '') {
    const bad = namespaceNameProblem(j.Namespace);
    if (bad) report('Namespace', bad);
  }
  if (set(j.Type) && !JOB_TYPES.includes(j.Type))
    report('Type', `invalid job type "${j.Type}": expected one of ${JOB_TYPES.join(', ')}`);
  if (set(j.Priority) && (j.Priority < 1 || j.Priority > 100))
    report('Priority', `job priority must be between 1 and 100, got ${j.Priority}`);
  if (Array.isArray(j.Datacenters))
    j.Datacenters.forEach((dc: unknown, i: number) => {
      if (dc === '') report(`Datacenters[${i}]`, 'datacenter name must not be empty');
    });
  constraints(j.Constraints, 'Constraints', report);
  affinities(j.Affinities, 'Affinities', report);
  spreads(j.Spreads, 'Spreads', report);
  if (set(j.Update)) update(j.Update, 'Update', report);
  if (set(j.Periodic)) periodic(j.Periodic, 'Periodic', report, j.Type);
  if (set(j.ParameterizedJob)) {
    const p = j.ParameterizedJob.Payload;
    if (set(p) && p !== '' && !['optional', 'required', 'forbidden'].includes(p))
      report('ParameterizedJob.Payload', `invalid payload "${p}": expected optional, required or forbidden`);
  }
  const groups: Obj[] = j.TaskGroups ?? [];
  if (groups.length === 0) report('TaskGroups', 'a job needs at least one task group');
  const names = new Map<string, number>();
  groups.forEach((g, i) => {
    const path = `TaskGroups[${i}]`;
    const badGroup = g.Name ? groupNameProblem(g.Name) : undefined;
    if (!g.Name) report(`${path}.Name`, 'task group name must not be empty');
    else if (badGroup) report(`${path}.Name`, badGroup);
    else if (names.has(g.Name))
      report(`${path}.Name`, `duplicate task group "${g.Name}" (also TaskGroups[${names.get(g.Name)}])`);
    else names.set(g.Name, i);
    group(g, path, report, j);
  });
  problems.push(...checkJobLimits(job));
  return problems;
}

function constraints(list: Obj[] | null | undefined, path: string, report: Report): void {
  (list ?? []).forEach((c, i) => {
    const p = `${path}[${i}]`;
    const op = c.Operand ?? '=';
    if (!CONSTRAINT_OPS.includes(op)) report(`${p}.Operand`, `unknown constraint operator "${op}"`);
    if (op === 'regexp' && set(c.RTarget)) {
      const err = regexSyntaxError(String(c.RTarget));
      if (err !== undefined) report(`${p}.RTarget`, `invalid regular expression "${c.RTarget}": ${err}`);
    }
    if (!['distinct_hosts', 'distinct_property'].includes(op) && !c.LTarget && !c.RTarget)
      report(p, 'constraint needs an attribute or a value');
    if (op === 'distinct_property' && !c.LTarget) report(`${p}.LTarget`, 'distinct_property needs an attribute');
  });
}

function affinities(list: Obj[] | null | undefined, path: string, report: Report): void {
  (list ?? []).forEach((a, i) => {
    const p = `${path}[${i}]`;
    if (set(a.Operand) && !CONSTRAINT_OPS.includes(a.Operand))
      report(`${p}.Operand`, `unknown affinity operator "${a.Operand}"`);
    if (set(a.Weight) && (a.Weight === 0 || a.Weight < -100 || a.Weight > 100))
      report(`${p}.Weight`, `affinity weight must be between -100 and 100 and not 0, got ${a.Weight}`);
  });
}

function spreads(list: Obj[] | null | undefined, path: string, report: Report): void {
  (list ?? []).forEach((s, i) => {
    const p = `${path}[${i}]`;
    if (!s.Attribute) report(`${p}.Attribute`, 'spread needs an attribute');
    if (set(s.Weight) && (s.Weight <= 0 || s.Weight > 100))
      report(`${p}.Weight`, `spread weight must be between 1 and 100, got ${s.Weight}`);
    let sum = 0;
    (s.SpreadTarget ?? []).forEach((t: Obj, k: number) => {
      if (set(t.Percent) && (t.Percent < 0 || t.Percent > 100))
        report(`${p}.SpreadTarget[${k}].Percent`, `spread target percent must be between 0 and 100, got ${t.Percent}`);
      sum += t.Percent ?? 0;
    });
    if (sum > 100) report(`${p}.SpreadTarget`, `spread target percentages add up to ${sum}, more than 100`);
  });
}

function update(u: Obj, path: string, report: Report): void {
  if (set(u.MaxParallel) && u.MaxParallel < 0)
    report(`${path}.MaxParallel`, `max_parallel must not be negative, got ${u.MaxParallel}`);
  if (set(u.Canary) && u.Canary < 0) report(`${path}.Canary`, `canary must not be negative, got ${u.Canary}`);
  if (set(u.HealthCheck) && !['checks', 'task_states', 'manual'].includes(u.HealthCheck))
    report(`${path}.HealthCheck`, `invalid health_check "${u.HealthCheck}": expected checks, task_states or manual`);
  if (
    set(u.MinHealthyTime) &&
    set(u.HealthyDeadline) &&
    u.HealthyDeadline > 0 &&
    u.MinHealthyTime >= u.HealthyDeadline
  ) {
    report(`${path}.MinHealthyTime`, 'min_healthy_time must be less than healthy_deadline');
  }
  if (
    set(u.ProgressDeadline) &&
    set(u.HealthyDeadline) &&
    u.ProgressDeadline !== 0 &&
    u.ProgressDeadline < u.HealthyDeadline
  ) {
    report(`${path}.ProgressDeadline`, 'progress_deadline must be 0 or at least healthy_deadline');
  }
  for (const k of ['Stagger', 'MinHealthyTime', 'HealthyDeadline', 'ProgressDeadline'])
    if (set(u[k]) && u[k] < 0) report(`${path}.${k}`, 'durations must not be negative');
}

const RECONCILE_MODES = ['best_score', 'keep_original', 'keep_replacement', 'longest_running'];

/** The disconnect block, and its older spellings on the group (max_client_disconnect, stop_after_client_disconnect). */
function disconnect(g: Obj, path: string, report: Report): void {
  const d = g.Disconnect;
  if (set(d)) {
    const p = `${path}.Disconnect`;
    if (set(d.Reconcile) && d.Reconcile !== '' && !RECONCILE_MODES.includes(d.Reconcile))
      report(`${p}.Reconcile`, `invalid reconcile "${d.Reconcile}": expected ${RECONCILE_MODES.join(', ')}`);
    for (const k of ['LostAfter', 'StopOnClientAfter'])
      if (set(d[k]) && d[k] < 0) report(`${p}.${k}`, 'durations must not be negative');
    if (d.LostAfter > 0 && d.StopOnClientAfter > 0)
      report(
        p,
        'lost_after and stop_on_client_after cannot both be set: a client that stops its work cannot also wait to reconnect',
      );
    if (d.LostAfter > 0 && g.MaxClientDisconnect > 0)
      report(
        `${path}.MaxClientDisconnect`,
        'max_client_disconnect is the older name of disconnect.lost_after: set only one',
      );
    if (d.StopOnClientAfter > 0 && g.StopAfterClientDisconnect > 0)
      report(
        `${path}.StopAfterClientDisconnect`,
        'stop_after_client_disconnect is the older name of disconnect.stop_on_client_after: set only one',
      );
  }
  if (g.MaxClientDisconnect > 0 && g.StopAfterClientDisconnect > 0)
    report(path, 'max_client_disconnect and stop_after_client_disconnect cannot both be set');
}

function knownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function periodic(p: Obj, path: string, report: Report, type: string): void {
  if (p.Enabled === false) return;
  if (!p.Spec && !p.Specs?.length) report(`${path}.Spec`, 'a periodic job needs a cron specification');
  if (typeof p.TimeZone === 'string' && p.TimeZone !== '' && !knownTimeZone(p.TimeZone))
    report(`${path}.TimeZone`, `invalid time zone "${p.TimeZone}": not a known IANA time zone`);
  if (type === 'service' || type === 'system')
    report(path, `periodic is only allowed on batch and sysbatch jobs, not "${type}"`);
}

function group(g: Obj, path: string, report: Report, job: Obj): void {
  if (set(g.Count) && g.Count < 0) report(`${path}.Count`, `count must not be negative, got ${g.Count}`);
  if (set(g.Count) && (job.Type === 'system' || job.Type === 'sysbatch') && g.Count > 1)
    report(`${path}.Count`, `a ${job.Type} job runs one instance per node: count must be 0 or 1, got ${g.Count}`);
  constraints(g.Constraints, `${path}.Constraints`, report);
  affinities(g.Affinities, `${path}.Affinities`, report);
  spreads(g.Spreads, `${path}.Spreads`, report);
  if (set(g.Update)) update(g.Update, `${path}.Update`, report);
  disconnect(g, path, report);
  if (set(g.RestartPolicy)) restart(g.RestartPolicy, `${path}.RestartPolicy`, report);
  const r = g.ReschedulePolicy;
  if (
    set(r) &&
    set(r.DelayFunction) &&
    r.DelayFunction !== '' &&
    !['constant', 'exponential', 'fibonacci'].includes(r.DelayFunction)
  ) {
    report(
      `${path}.ReschedulePolicy.DelayFunction`,
      `invalid delay_function "${r.DelayFunction}": expected constant, exponential or fibonacci`,
    );
  }
  if (set(g.EphemeralDisk?.SizeMB) && g.EphemeralDisk.SizeMB < 0)
    report(`${path}.EphemeralDisk.SizeMB`, 'ephemeral disk size must not be negative');
  if (set(g.Scaling)) {
    const s = g.Scaling;
    if (set(s.Min) && set(s.Max) && s.Min > s.Max)
      report(`${path}.Scaling.Min`, `scaling min (${s.Min}) is greater than max (${s.Max})`);
    if (set(s.Max) && s.Max < 0) report(`${path}.Scaling.Max`, 'scaling max must not be negative');
  }
  const tasks: Obj[] = g.Tasks ?? [];
  if (tasks.length === 0) report(`${path}.Tasks`, `task group "${g.Name ?? ''}" needs at least one task`);
  const names = new Map<string, number>();
  const volumes = new Set(Object.keys(g.Volumes ?? {}));
  let leaders = 0;
  tasks.forEach((t, i) => {
    const tp = `${path}.Tasks[${i}]`;
    const badTask = t.Name ? taskNameProblem(t.Name) : undefined;
    if (!t.Name) report(`${tp}.Name`, 'task name must not be empty');
    else if (badTask) report(`${tp}.Name`, badTask);
    else if (names.has(t.Name))
      report(`${tp}.Name`, `duplicate task "${t.Name}" in group "${g.Name}" (also Tasks[${names.get(t.Name)}])`);
    else names.set(t.Name, i);
    if (t.Leader) leaders++;
    task(t, tp, report, volumes);
  });
  if (leaders > 1) report(`${path}.Tasks`, 'only one task in a group may be the leader');
  services(g.Services, `${path}.Services`, report, new Set(tasks.map((t) => t.Name)));
  portLabels(g, path, report);
  groupNetworkProblems(g, path, report);
  for (const [name, v] of Object.entries((g.Volumes ?? {}) as Record<string, Obj>)) {
    if (set(v.Type) && !['host', 'csi'].includes(v.Type))
      report(`${path}.Volumes.${name}.Type`, `invalid volume type "${v.Type}": expected host or csi`);
    if (!v.Source) report(`${path}.Volumes.${name}.Source`, `volume "${name}" needs a source`);
  }
}

function restart(r: Obj, path: string, report: Report): void {
  if (set(r.Mode) && !['delay', 'fail'].includes(r.Mode))
    report(`${path}.Mode`, `invalid restart mode "${r.Mode}": expected delay or fail`);
  if (set(r.Attempts) && r.Attempts < 0) report(`${path}.Attempts`, 'restart attempts must not be negative');
}

function task(t: Obj, path: string, report: Report, volumes: Set<string>): void {
  if (!t.Driver) report(`${path}.Driver`, `task "${t.Name ?? ''}" is missing a driver`);
  const r = t.Resources;
  if (set(r)) {
    if (set(r.CPU) && r.CPU < 0) report(`${path}.Resources.CPU`, `cpu must not be negative, got ${r.CPU}`);
    if (set(r.CPU) && r.CPU > 0 && set(r.Cores) && r.Cores > 0)
      report(`${path}.Resources.Cores`, 'set either cpu or cores, not both');
    if (set(r.MemoryMB) && r.MemoryMB < 10)
      report(`${path}.Resources.MemoryMB`, `memory must be at least 10 MB, got ${r.MemoryMB}`);
    if (set(r.MemoryMaxMB) && r.MemoryMaxMB > 0 && set(r.MemoryMB) && r.MemoryMaxMB < r.MemoryMB)
      report(`${path}.Resources.MemoryMaxMB`, `memory_max (${r.MemoryMaxMB}) must be at least memory (${r.MemoryMB})`);
    if (set(r.DiskMB) && r.DiskMB < 0) report(`${path}.Resources.DiskMB`, 'disk must not be negative');
  }
  constraints(t.Constraints, `${path}.Constraints`, report);
  affinities(t.Affinities, `${path}.Affinities`, report);
  if (set(t.RestartPolicy)) restart(t.RestartPolicy, `${path}.RestartPolicy`, report);
  if (set(t.KillTimeout) && t.KillTimeout < 0) report(`${path}.KillTimeout`, 'kill_timeout must not be negative');
  if (set(t.Lifecycle) && t.Lifecycle.Hook && !['prestart', 'poststart', 'poststop'].includes(t.Lifecycle.Hook)) {
    report(
      `${path}.Lifecycle.Hook`,
      `invalid lifecycle hook "${t.Lifecycle.Hook}": expected prestart, poststart or poststop`,
    );
  }
  (t.Artifacts ?? []).forEach((a: Obj, i: number) => {
    if (!a.GetterSource) report(`${path}.Artifacts[${i}].GetterSource`, 'artifact needs a source');
    if (set(a.GetterMode) && !['any', 'file', 'dir'].includes(a.GetterMode))
      report(
        `${path}.Artifacts[${i}].GetterMode`,
        `invalid artifact mode "${a.GetterMode}": expected any, file or dir`,
      );
    if (typeof a.RelativeDest === 'string' && destinationEscapesAlloc(a.RelativeDest))
      report(
        `${path}.Artifacts[${i}].RelativeDest`,
        `artifact destination "${a.RelativeDest}" escapes the allocation directory (it is relative to the task directory)`,
      );
  });
  (t.Templates ?? []).forEach((tp: Obj, i: number) => {
    const p = `${path}.Templates[${i}]`;
    if (!tp.SourcePath && !tp.EmbeddedTmpl) report(p, 'template needs a source or data');
    if (!tp.DestPath) report(`${p}.DestPath`, 'template needs a destination');
    if (set(tp.ChangeMode) && !['noop', 'restart', 'signal', 'script'].includes(tp.ChangeMode))
      report(`${p}.ChangeMode`, `invalid change_mode "${tp.ChangeMode}": expected noop, restart, signal or script`);
    if (tp.ChangeMode === 'signal' && !tp.ChangeSignal)
      report(`${p}.ChangeSignal`, 'change_mode "signal" needs a change_signal');
    if (tp.ChangeMode === 'script' && !tp.ChangeScript?.Command)
      report(`${p}.ChangeScript`, 'change_mode "script" needs a change_script with a command');
    if (set(tp.Perms) && tp.Perms !== '' && !/^[0-7]{3,4}$/.test(tp.Perms))
      report(`${p}.Perms`, `invalid perms "${tp.Perms}": expected an octal mode such as "0644"`);
  });
  (t.VolumeMounts ?? []).forEach((vm: Obj, i: number) => {
    if (vm.Volume && !volumes.has(vm.Volume))
      report(
        `${path}.VolumeMounts[${i}].Volume`,
        `volume_mount refers to volume "${vm.Volume}", which the group does not define`,
      );
  });
  services(t.Services, `${path}.Services`, report, null);
}

function services(list: Obj[] | null | undefined, path: string, report: Report, groupTasks: Set<string> | null): void {
  (list ?? []).forEach((s, i) => {
    const p = `${path}[${i}]`;
    const badName = s.Name ? serviceNameProblem(s.Name) : undefined;
    if (badName) report(`${p}.Name`, badName);
    if (set(s.Provider) && !['consul', 'nomad'].includes(s.Provider))
      report(`${p}.Provider`, `invalid service provider "${s.Provider}": expected consul or nomad`);
    if (groupTasks && s.TaskName && !groupTasks.has(s.TaskName))
      report(`${p}.TaskName`, `service refers to task "${s.TaskName}", which is not in the group`);
    (s.Checks ?? []).forEach((c: Obj, k: number) => {
      const cp = `${p}.Checks[${k}]`;
      if (set(c.Type) && !['http', 'tcp', 'script', 'grpc'].includes(c.Type))
        report(`${cp}.Type`, `invalid check type "${c.Type}": expected http, tcp, script or grpc`);
      if (c.Type === 'http' && !c.Path) report(`${cp}.Path`, 'an http check needs a path');
      if (c.Type === 'script' && !c.Command) report(`${cp}.Command`, 'a script check needs a command');
      if (set(c.Interval) && c.Interval < 1e9 && c.Type) report(`${cp}.Interval`, 'check interval must be at least 1s');
      if (set(c.Timeout) && c.Timeout < 1e9 && c.Type) report(`${cp}.Timeout`, 'check timeout must be at least 1s');
    });
  });
}

/** Every port label a service or check uses must be defined by a network of the group or the task. */
function portLabels(g: Obj, path: string, report: Report): void {
  const defined = new Set<string>();
  const collect = (nets: Obj[] | null | undefined) => {
    for (const n of nets ?? [])
      for (const p of [...(n.ReservedPorts ?? []), ...(n.DynamicPorts ?? [])]) defined.add(p.Label);
  };
  collect(g.Networks);
  for (const t of g.Tasks ?? []) collect(t.Resources?.Networks);
  const needs = (label: unknown, mode: unknown) =>
    typeof label === 'string' &&
    label !== '' &&
    !/^\d+$/.test(label) &&
    !label.includes('${') &&
    mode !== 'driver' &&
    !defined.has(label);
  const check = (list: Obj[] | null | undefined, p: string) => {
    (list ?? []).forEach((s, i) => {
      if (s.Connect) return;
      if (needs(s.PortLabel, s.AddressMode))
        report(
          `${p}[${i}].PortLabel`,
          `port label "${s.PortLabel}" is not defined by any network of the group or task`,
        );
      (s.Checks ?? []).forEach((c: Obj, k: number) => {
        if (needs(c.PortLabel, c.AddressMode))
          report(
            `${p}[${i}].Checks[${k}].PortLabel`,
            `port label "${c.PortLabel}" is not defined by any network of the group or task`,
          );
      });
    });
  };
  check(g.Services, `${path}.Services`);
  (g.Tasks ?? []).forEach((t: Obj, i: number) => check(t.Services, `${path}.Tasks[${i}].Services`));
}

/**
 * A destination (relative to the task directory, a leading / included, as Nomad joins it) that climbs above the
 * allocation directory. `../alloc/data` is fine: the shared alloc dir is a sibling of the task dir.
 */
function destinationEscapesAlloc(dest: string): boolean {
  const parts: string[] = ['task'];
  for (const p of dest.replace(/\\/g, '/').split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) return true;
      parts.pop();
    } else parts.push(p);
  }
  return false;
}
