/**
 * Nomad's job diff (what `job plan` prints): a tree of Fields (flattened primitives, Old/New as
 * strings) and Objects (nested blocks), with task groups and tasks matched by name. Contextual diffs
 * also list the unchanged fields of a changed object, as Type "None", so the CLI can show context.
 * After planning, `annotateJobDiff` adds the scheduler's per-group update counts and marks each task
 * change as in-place or destructive.
 */
import type { PlanAnnotations, Job } from '../structs/index.js';
import type { FieldDiff, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff } from '../structs/index.js';

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

/** Rules for an object diffed by kind alone (no nested rules). */
const struct = (name: string): ObjectRule => ({ name, kind: 'struct' });
const flat = (name: string): ObjectRule => ({ name, kind: 'flat' });
const set = (name: string): ObjectRule => ({ name, kind: 'set' });
const list = (name: string): ObjectRule => ({ name, kind: 'list' });

const constraint: ObjectRule = list('Constraint');
const affinity: ObjectRule = list('Affinity');
const spread: ObjectRule = {
  name: 'Spread',
  kind: 'list',
  rules: { objects: { SpreadTarget: list('SpreadTarget') } },
};
const port = (name: string): ObjectRule => ({ name, kind: 'list', key: (p) => String(p.Label) });
const network: ObjectRule = {
  name: 'Network',
  kind: 'list',
  rules: {
    objects: {
      ReservedPorts: port('Static Port'),
      DynamicPorts: port('Dynamic Port'),
      DNS: struct('DNS'),
    },
  },
};
const check: ObjectRule = {
  name: 'Check',
  kind: 'list',
  key: (c) => String(c.Name),
  rules: {
    inline: ['Header'],
    objects: { CheckRestart: struct('CheckRestart'), Args: set('Args') },
  },
};
const service: ObjectRule = {
  name: 'Service',
  kind: 'list',
  key: (s) => `${s.Name}\u0000${s.PortLabel ?? ''}`,
  rules: {
    inline: ['Meta', 'CanaryMeta', 'TaggedAddresses'],
    objects: {
      Tags: set('Tags'),
      CanaryTags: set('CanaryTags'),
      Checks: check,
      Connect: flat('ConsulConnect'),
    },
  },
};

const taskRules: Rules = {
  skip: ['Name'],
  inline: ['Env', 'Meta'],
  objects: {
    Config: flat('Config'),
    Resources: {
      name: 'Resources',
      kind: 'struct',
      rules: { objects: { Networks: network, Devices: list('Device') } },
    },
    Constraints: constraint,
    Affinities: affinity,
    Services: service,
    RestartPolicy: struct('RestartPolicy'),
    LogConfig: struct('LogConfig'),
    Artifacts: { name: 'Artifact', kind: 'list', rules: { inline: ['GetterOptions', 'GetterHeaders'] } },
    Templates: {
      name: 'Template',
      kind: 'list',
      rules: {
        objects: { Wait: struct('Template'), ChangeScript: struct('ChangeScript') },
      },
    },
    Vault: flat('Vault'),
    Consul: flat('Consul'),
    DispatchPayload: struct('DispatchPayload'),
    Lifecycle: struct('Lifecycle'),
    VolumeMounts: list('VolumeMount'),
    Identity: flat('Identity'),
    Identities: list('Identities'),
    ScalingPolicies: list('ScalingPolicy'),
    CSIPluginConfig: flat('CSIPluginConfig'),
    Actions: list('Action'),
  },
};

const groupRules: Rules = {
  skip: ['Name', 'Tasks'],
  inline: ['Meta'],
  objects: {
    Constraints: constraint,
    Affinities: affinity,
    Spreads: spread,
    RestartPolicy: struct('RestartPolicy'),
    ReschedulePolicy: struct('ReschedulePolicy'),
    EphemeralDisk: struct('EphemeralDisk'),
    Update: struct('Update'),
    Migrate: struct('Migrate'),
    Networks: network,
    Services: service,
    Volumes: flat('Volume'),
    Disconnect: struct('Disconnect'),
    Scaling: flat('Scaling'),
    Consul: flat('Consul'),
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
    Datacenters: set('Datacenters'),
    Constraints: constraint,
    Affinities: affinity,
    Spreads: spread,
    Periodic: { name: 'Periodic', kind: 'struct', rules: { objects: { Specs: set('Specs') } } },
    ParameterizedJob: {
      name: 'ParameterizedJob',
      kind: 'struct',
      rules: {
        objects: {
          MetaRequired: set('MetaRequired'),
          MetaOptional: set('MetaOptional'),
        },
      },
    },
    Multiregion: flat('Multiregion'),
    Reschedule: struct('Reschedule'),
    Migrate: struct('Migrate'),
    UI: flat('UI'),
    Vault: flat('Vault'),
    Consul: flat('Consul'),
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

/** One level's diff: its fields, its nested objects and, when given, its named children (groups, tasks). */
function levelDiff<C extends { Type: DiffType }>(
  old: Obj | null,
  next: Obj | null,
  rules: Rules,
  contextual: boolean,
  children?: { field: string; diff: (old: Obj | null, next: Obj | null, contextual: boolean) => C },
): {
  Type: DiffType;
  changed: boolean;
  Fields: FieldDiff[] | null;
  Objects: ObjectDiff[] | null;
  Children: C[] | null;
} {
  const fields = fieldDiffs(
    primitiveFields(old, rules),
    primitiveFields(next, rules),
    contextual || old == null || next == null,
  );
  const objects = objectDiffs(old, next, rules, contextual);
  let kids: C[] = [];
  if (children) {
    const oc = byName(old?.[children.field]);
    const nc = byName(next?.[children.field]);
    kids = [...new Set([...oc.keys(), ...nc.keys()])]
      .sort()
      .map((k) => children.diff(oc.get(k) ?? null, nc.get(k) ?? null, contextual));
  }
  const changed = fields.some((f) => f.Type !== 'None') || objects.length > 0 || kids.some((c) => c.Type !== 'None');
  return {
    Type: diffType(old, next, changed),
    changed,
    Fields: fields.length > 0 ? fields : null,
    Objects: objects.length > 0 ? objects : null,
    Children: kids.length > 0 ? kids : null,
  };
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
  const d = levelDiff(old, next, rules, contextual);
  if (!d.changed && old != null && next != null) return null;
  return { Type: d.Type, Name: name, Fields: d.Fields, Objects: d.Objects };
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
  // Equality is by content: the flattened fields sorted by name, since the JSON and HCL paths build
  // the same block with its keys in a different order.
  const sig = (x: Obj) =>
    JSON.stringify(Object.entries(flatten(x, '', {})).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
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
  const d = levelDiff(old, next, groupRules, contextual, { field: 'Tasks', diff: taskDiff });
  return {
    Type: d.Type,
    Name: String((next ?? old)!.Name),
    Fields: d.Fields,
    Objects: d.Objects,
    Tasks: d.Children,
    Updates: null,
  };
}

/** The diff from `old` to `next` (either may be null: a new or a purged job). */
export function jobDiff(old: Job | null, next: Job | null, contextual: boolean): JobDiff {
  const o = old as unknown as Obj | null;
  const n = next as unknown as Obj | null;
  const d = levelDiff(o, n, jobRules, contextual, { field: 'TaskGroups', diff: groupDiff });
  return { Type: d.Type, ID: (next ?? old)?.ID ?? '', Fields: d.Fields, Objects: d.Objects, TaskGroups: d.Children };
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
