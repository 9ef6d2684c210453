/**
 * Nomad's job diff (what `job plan` prints): a tree of Fields (flattened primitives, Old/New as
 * strings) and Objects (nested blocks), with task groups and tasks matched by name. Contextual diffs
 * also list the unchanged fields of a changed object, as Type "None", so the CLI can show context.
 * After planning, `annotateJobDiff` adds the scheduler's per-group update counts and marks each task
 * change as in-place or destructive.
 */
import type { PlanAnnotations, Job } from '../structs/index.js';
import type { FieldDiff, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff } from './types.js';

type DiffType = FieldDiff['Type'];
type Obj = Record<string, unknown>;

/** How one field of a struct is diffed when it is not a primitive. */
interface ObjectRule {
  /** The object's name in the diff (Nomad's singular block names: "Constraint", "Service"). */
  name: string;
  /** 'struct': one nested object; 'list': each element an object, matched by `key` (or by equality); 'set': primitive set; 'flat': a free-form map flattened into fields. */
  kind: 'struct' | 'list' | 'set' | 'flat';
  key?: (x: Obj) => string;
  rules?: Rules;
}

interface Rules {
  /** Fields left out of the diff (server-managed or shown elsewhere). */
  skip?: string[];
  /** Maps whose entries become fields of the parent, `Meta[key]`. */
  inline?: string[];
  objects?: Record<string, ObjectRule>;
}

const constraint: ObjectRule = { name: 'Constraint', kind: 'list' };
const affinity: ObjectRule = { name: 'Affinity', kind: 'list' };
const spread: ObjectRule = {
  name: 'Spread',
  kind: 'list',
  rules: { objects: { SpreadTarget: { name: 'SpreadTarget', kind: 'list' } } },
};
const port = (name: string): ObjectRule => ({ name, kind: 'list', key: (p) => String(p.Label) });
const network: ObjectRule = {
  name: 'Network',
  kind: 'list',
  rules: {
    objects: {
      ReservedPorts: port('Static Port'),
      DynamicPorts: port('Dynamic Port'),
      DNS: { name: 'DNS', kind: 'struct' },
    },
  },
};
const check: ObjectRule = {
  name: 'Check',
  kind: 'list',
  key: (c) => String(c.Name),
  rules: {
    inline: ['Header'],
    objects: { CheckRestart: { name: 'CheckRestart', kind: 'struct' }, Args: { name: 'Args', kind: 'set' } },
  },
};
const service: ObjectRule = {
  name: 'Service',
  kind: 'list',
  key: (s) => `${s.Name}\u0000${s.PortLabel ?? ''}`,
  rules: {
    inline: ['Meta', 'CanaryMeta', 'TaggedAddresses'],
    objects: {
      Tags: { name: 'Tags', kind: 'set' },
      CanaryTags: { name: 'CanaryTags', kind: 'set' },
      Checks: check,
      Connect: { name: 'ConsulConnect', kind: 'flat' },
    },
  },
};

const taskRules: Rules = {
  skip: ['Name'],
  inline: ['Env', 'Meta'],
  objects: {
    Config: { name: 'Config', kind: 'flat' },
    Resources: {
      name: 'Resources',
      kind: 'struct',
      rules: { objects: { Networks: network, Devices: { name: 'Device', kind: 'list' } } },
    },
    Constraints: constraint,
    Affinities: affinity,
    Services: service,
    RestartPolicy: { name: 'RestartPolicy', kind: 'struct' },
    LogConfig: { name: 'LogConfig', kind: 'struct' },
    Artifacts: { name: 'Artifact', kind: 'list', rules: { inline: ['GetterOptions', 'GetterHeaders'] } },
    Templates: {
      name: 'Template',
      kind: 'list',
      rules: {
        objects: { Wait: { name: 'Template', kind: 'struct' }, ChangeScript: { name: 'ChangeScript', kind: 'struct' } },
      },
    },
    Vault: { name: 'Vault', kind: 'flat' },
    Consul: { name: 'Consul', kind: 'flat' },
    DispatchPayload: { name: 'DispatchPayload', kind: 'struct' },
    Lifecycle: { name: 'Lifecycle', kind: 'struct' },
    VolumeMounts: { name: 'VolumeMount', kind: 'list' },
    Identity: { name: 'Identity', kind: 'flat' },
    Identities: { name: 'Identities', kind: 'list' },
    ScalingPolicies: { name: 'ScalingPolicy', kind: 'list' },
    CSIPluginConfig: { name: 'CSIPluginConfig', kind: 'flat' },
    Actions: { name: 'Action', kind: 'list' },
  },
};

const groupRules: Rules = {
  skip: ['Name', 'Tasks'],
  inline: ['Meta'],
  objects: {
    Constraints: constraint,
    Affinities: affinity,
    Spreads: spread,
    RestartPolicy: { name: 'RestartPolicy', kind: 'struct' },
    ReschedulePolicy: { name: 'ReschedulePolicy', kind: 'struct' },
    EphemeralDisk: { name: 'EphemeralDisk', kind: 'struct' },
    Update: { name: 'Update', kind: 'struct' },
    Migrate: { name: 'Migrate', kind: 'struct' },
    Networks: network,
    Services: service,
    Volumes: { name: 'Volume', kind: 'flat' },
    Disconnect: { name: 'Disconnect', kind: 'struct' },
    Scaling: { name: 'Scaling', kind: 'flat' },
    Consul: { name: 'Consul', kind: 'flat' },
  },
};

const jobRules: Rules = {
  skip: [
    'ID',
    'Status',
    'StatusDescription',
    'Version',
    'Stable',
    'SubmitTime',
    'CreateIndex',
    'ModifyIndex',
    'JobModifyIndex',
    'TaskGroups',
    'Update',
    'VersionTag',
    'NomadTokenID',
    'VaultToken',
    'ConsulToken',
  ],
  inline: ['Meta'],
  objects: {
    Datacenters: { name: 'Datacenters', kind: 'set' },
    Constraints: constraint,
    Affinities: affinity,
    Spreads: spread,
    Periodic: { name: 'Periodic', kind: 'struct', rules: { objects: { Specs: { name: 'Specs', kind: 'set' } } } },
    ParameterizedJob: {
      name: 'ParameterizedJob',
      kind: 'struct',
      rules: {
        objects: {
          MetaRequired: { name: 'MetaRequired', kind: 'set' },
          MetaOptional: { name: 'MetaOptional', kind: 'set' },
        },
      },
    },
    Multiregion: { name: 'Multiregion', kind: 'flat' },
    Reschedule: { name: 'Reschedule', kind: 'struct' },
    Migrate: { name: 'Migrate', kind: 'struct' },
    UI: { name: 'UI', kind: 'flat' },
    Vault: { name: 'Vault', kind: 'flat' },
    Consul: { name: 'Consul', kind: 'flat' },
  },
};

/** Go's %v of a primitive, as Nomad's diff strings show it. */
function str(v: unknown): string {
  if (v == null) return '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

function isPrimitive(v: unknown): boolean {
  return v == null || typeof v !== 'object';
}

/** Flattens nested maps and lists into `a[b][0]`-style keys, as Nomad's flatmap does. */
function flatten(v: unknown, prefix: string, out: Record<string, string>): Record<string, string> {
  if (Array.isArray(v)) v.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
  else if (v != null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix === '' ? k : `${prefix}[${k}]`, out);
  } else if (v !== undefined && prefix !== '') out[prefix] = str(v);
  return out;
}

function fieldDiff(
  name: string,
  oldV: string | undefined,
  newV: string | undefined,
  contextual: boolean,
): FieldDiff | null {
  if (oldV === newV)
    return contextual && oldV !== undefined
      ? { Type: 'None', Name: name, Old: oldV, New: newV!, Annotations: null }
      : null;
  const type: DiffType =
    oldV === undefined || oldV === '' ? 'Added' : newV === undefined || newV === '' ? 'Deleted' : 'Edited';
  return { Type: type, Name: name, Old: oldV ?? '', New: newV ?? '', Annotations: null };
}

function fieldDiffs(oldF: Record<string, string>, newF: Record<string, string>, contextual: boolean): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const k of new Set([...Object.keys(oldF), ...Object.keys(newF)])) {
    const d = fieldDiff(k, oldF[k], newF[k], contextual);
    if (d) out.push(d);
  }
  return out.sort((a, b) => a.Name.localeCompare(b.Name));
}

/** The primitive fields of a struct (plus inlined maps), flattened to strings. */
function primitiveFields(o: Obj | null, rules: Rules): Record<string, string> {
  const out: Record<string, string> = {};
  if (o == null) return out;
  const skip = new Set(rules.skip ?? []);
  const inline = new Set(rules.inline ?? []);
  for (const [k, v] of Object.entries(o)) {
    if (skip.has(k) || rules.objects?.[k] != null) continue;
    if (inline.has(k)) {
      for (const [mk, mv] of Object.entries((v as Obj | null) ?? {})) out[`${k}[${mk}]`] = str(mv);
      continue;
    }
    if (isPrimitive(v)) {
      if (v !== undefined) out[k] = str(v);
      continue;
    }
    // Fields without a rule that hold lists or maps are flattened rather than dropped.
    flatten(v, k, out);
  }
  return out;
}

function diffType(old: unknown, next: unknown, changed: boolean): DiffType {
  if (old == null) return 'Added';
  if (next == null) return 'Deleted';
  return changed ? 'Edited' : 'None';
}

/** Diffs one struct: its fields and its nested objects. Null when nothing changed. */
function structDiff(
  name: string,
  old: Obj | null,
  next: Obj | null,
  rules: Rules,
  contextual: boolean,
): ObjectDiff | null {
  if (old == null && next == null) return null;
  const fields = fieldDiffs(
    primitiveFields(old, rules),
    primitiveFields(next, rules),
    contextual || old == null || next == null,
  );
  const objects = objectDiffs(old, next, rules, contextual);
  const changed = fields.some((f) => f.Type !== 'None') || objects.length > 0;
  if (!changed && old != null && next != null) return null;
  return {
    Type: diffType(old, next, changed),
    Name: name,
    Fields: fields.length > 0 ? fields : null,
    Objects: objects.length > 0 ? objects : null,
  };
}

function listDiffs(rule: ObjectRule, oldL: Obj[], newL: Obj[], contextual: boolean): ObjectDiff[] {
  const rules = rule.rules ?? {};
  const out: ObjectDiff[] = [];
  if (rule.key != null) {
    const om = new Map(oldL.map((x) => [rule.key!(x), x]));
    const nm = new Map(newL.map((x) => [rule.key!(x), x]));
    for (const k of new Set([...om.keys(), ...nm.keys()])) {
      const d = structDiff(rule.name, om.get(k) ?? null, nm.get(k) ?? null, rules, contextual);
      if (d) out.push(d);
    }
    return out;
  }
  // No identity: elements match by equality, so a change shows as one deleted and one added.
  const sig = (x: Obj) => JSON.stringify(flatten(x, '', {}));
  const oldSigs = new Set(oldL.map(sig));
  const newSigs = new Set(newL.map(sig));
  for (const x of oldL) if (!newSigs.has(sig(x))) out.push(structDiff(rule.name, x, null, rules, contextual)!);
  for (const x of newL) if (!oldSigs.has(sig(x))) out.push(structDiff(rule.name, null, x, rules, contextual)!);
  return out;
}

function setDiff(name: string, oldL: unknown[], newL: unknown[], contextual: boolean): ObjectDiff | null {
  const o = new Set(oldL.map(str));
  const n = new Set(newL.map(str));
  const fields: FieldDiff[] = [];
  for (const v of o) if (!n.has(v)) fields.push({ Type: 'Deleted', Name: name, Old: v, New: '', Annotations: null });
  for (const v of n) if (!o.has(v)) fields.push({ Type: 'Added', Name: name, Old: '', New: v, Annotations: null });
  if (fields.length === 0) return null;
  if (contextual)
    for (const v of n) if (o.has(v)) fields.push({ Type: 'None', Name: name, Old: v, New: v, Annotations: null });
  const type: DiffType = oldL.length === 0 ? 'Added' : newL.length === 0 ? 'Deleted' : 'Edited';
  return {
    Type: type,
    Name: name,
    Fields: fields.sort((a, b) => a.Old.localeCompare(b.Old) || a.New.localeCompare(b.New)),
    Objects: null,
  };
}

function flatDiff(name: string, old: unknown, next: unknown, contextual: boolean): ObjectDiff | null {
  const of = old == null ? {} : flatten(old, '', {});
  const nf = next == null ? {} : flatten(next, '', {});
  const fields = fieldDiffs(of, nf, contextual || old == null || next == null);
  if (!fields.some((f) => f.Type !== 'None')) return null;
  return { Type: diffType(old, next, true), Name: name, Fields: fields, Objects: null };
}

function asList(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function objectDiffs(old: Obj | null, next: Obj | null, rules: Rules, contextual: boolean): ObjectDiff[] {
  const out: ObjectDiff[] = [];
  for (const [field, rule] of Object.entries(rules.objects ?? {})) {
    const ov = old?.[field];
    const nv = next?.[field];
    if (rule.kind === 'struct') {
      const d = structDiff(rule.name, (ov as Obj) ?? null, (nv as Obj) ?? null, rule.rules ?? {}, contextual);
      if (d) out.push(d);
    } else if (rule.kind === 'list') out.push(...listDiffs(rule, asList(ov), asList(nv), contextual));
    else if (rule.kind === 'set') {
      const d = setDiff(rule.name, asList(ov), asList(nv), contextual);
      if (d) out.push(d);
    } else {
      const d = flatDiff(rule.name, ov, nv, contextual);
      if (d) out.push(d);
    }
  }
  return out.sort((a, b) => a.Name.localeCompare(b.Name));
}

function taskDiff(old: Obj | null, next: Obj | null, contextual: boolean): TaskDiff {
  const d = structDiff('', old, next, taskRules, contextual);
  const name = String((next ?? old)!.Name);
  if (d == null) {
    const fields = contextual
      ? fieldDiffs(primitiveFields(old, taskRules), primitiveFields(next, taskRules), true)
      : [];
    return { Type: 'None', Name: name, Fields: fields.length > 0 ? fields : null, Objects: null, Annotations: null };
  }
  return { Type: d.Type, Name: name, Fields: d.Fields, Objects: d.Objects, Annotations: null };
}

function byName(l: unknown): Map<string, Obj> {
  return new Map(asList(l).map((x) => [String(x.Name), x]));
}

function groupDiff(old: Obj | null, next: Obj | null, contextual: boolean): TaskGroupDiff {
  const name = String((next ?? old)!.Name);
  const fields = fieldDiffs(
    primitiveFields(old, groupRules),
    primitiveFields(next, groupRules),
    contextual || old == null || next == null,
  );
  const objects = objectDiffs(old, next, groupRules, contextual);
  const ot = byName(old?.Tasks);
  const nt = byName(next?.Tasks);
  const tasks = [...new Set([...ot.keys(), ...nt.keys()])]
    .sort()
    .map((k) => taskDiff(ot.get(k) ?? null, nt.get(k) ?? null, contextual));
  const changed = fields.some((f) => f.Type !== 'None') || objects.length > 0 || tasks.some((t) => t.Type !== 'None');
  return {
    Type: diffType(old, next, changed),
    Name: name,
    Fields: fields.length > 0 ? fields : null,
    Objects: objects.length > 0 ? objects : null,
    Tasks: tasks.length > 0 ? tasks : null,
    Updates: null,
  };
}

/** The diff from `old` to `next` (either may be null: a new or a purged job). */
export function jobDiff(old: Job | null, next: Job | null, contextual: boolean): JobDiff {
  const o = old as unknown as Obj | null;
  const n = next as unknown as Obj | null;
  const fields = fieldDiffs(
    primitiveFields(o, jobRules),
    primitiveFields(n, jobRules),
    contextual || o == null || n == null,
  );
  const objects = objectDiffs(o, n, jobRules, contextual);
  const og = byName(o?.TaskGroups);
  const ng = byName(n?.TaskGroups);
  const groups = [...new Set([...og.keys(), ...ng.keys()])]
    .sort()
    .map((k) => groupDiff(og.get(k) ?? null, ng.get(k) ?? null, contextual));
  const changed = fields.some((f) => f.Type !== 'None') || objects.length > 0 || groups.some((g) => g.Type !== 'None');
  return {
    Type: diffType(o, n, changed),
    ID: (next ?? old)?.ID ?? '',
    Fields: fields.length > 0 ? fields : null,
    Objects: objects.length > 0 ? objects : null,
    TaskGroups: groups.length > 0 ? groups : null,
  };
}

export const AnnotationForcesCreate = 'forces create';
export const AnnotationForcesDestroy = 'forces destroy';
export const AnnotationForcesInplaceUpdate = 'forces in-place update';
export const AnnotationForcesDestructiveUpdate = 'forces create/destroy update';

/** DesiredUpdates keys → the words `job plan` shows. */
const UPDATE_NAMES: [string, string][] = [
  ['Ignore', 'ignore'],
  ['Place', 'create'],
  ['Migrate', 'migrate'],
  ['Stop', 'destroy'],
  ['Canary', 'canary'],
  ['InPlaceUpdate', 'in-place update'],
  ['DestructiveUpdate', 'create/destroy update'],
];

/** Task objects whose change the client can apply to a running task. */
const IN_PLACE_OBJECTS = new Set(['Service', 'Constraint', 'Affinity']);
const IN_PLACE_FIELDS = new Set(['KillTimeout']);

function annotateTask(t: TaskDiff, group: TaskGroupDiff): void {
  if (t.Type === 'None') return;
  if (group.Type === 'Added' || t.Type === 'Added') {
    t.Annotations = [AnnotationForcesCreate];
    return;
  }
  if (group.Type === 'Deleted' || t.Type === 'Deleted') {
    t.Annotations = [AnnotationForcesDestroy];
    return;
  }
  const destructive =
    (t.Fields ?? []).some((f) => f.Type !== 'None' && !IN_PLACE_FIELDS.has(f.Name)) ||
    (t.Objects ?? []).some((o) => !IN_PLACE_OBJECTS.has(o.Name));
  t.Annotations = [destructive ? AnnotationForcesDestructiveUpdate : AnnotationForcesInplaceUpdate];
}

/** Adds the scheduler's update counts per group and the Count and task annotations. */
export function annotateJobDiff(diff: JobDiff, annotations: PlanAnnotations | null): void {
  for (const g of diff.TaskGroups ?? []) {
    const u = annotations?.DesiredTGUpdates?.[g.Name] as unknown as Record<string, number> | undefined;
    if (u != null) {
      const updates: Record<string, number> = {};
      for (const [from, to] of UPDATE_NAMES) {
        const n = u[from] ?? 0;
        if (n !== 0) updates[to] = n;
      }
      g.Updates = updates;
    }
    const count = g.Fields?.find((f) => f.Name === 'Count');
    if (count != null && count.Type === 'Edited') {
      const o = Number(count.Old);
      const n = Number(count.New);
      if (n > o) count.Annotations = [AnnotationForcesCreate];
      else if (n < o) count.Annotations = [AnnotationForcesDestroy];
    }
    for (const t of g.Tasks ?? []) annotateTask(t, g);
  }
}
