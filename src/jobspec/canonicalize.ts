/**
 * Fills a job's defaults the way Nomad's API client does before register (and on parse with
 * `Canonicalize: true`), so a job read back from Drover looks like one read back from Nomad.
 * Group-level update/migrate/reschedule/restart policies inherit from the job and from
 * per-type defaults; task restart policies inherit from their group.
 */
import type { Job } from '../structs/index.js';
import { canonicalizeService } from './canonicalize-service.js';

type Obj = Record<string, any>;

const S = 1e9;
const M = 60 * S;
const H = 60 * M;

/** Sets every key of `defaults` that is absent (undefined or null) in `o`. */
function fill(o: Obj, defaults: Obj): Obj {
  for (const [k, v] of Object.entries(defaults)) {
    if (o[k] === undefined || o[k] === null) o[k] = v;
  }
  return o;
}

/** Keys of `over` that are set override `base`; returns a new object. */
function merge(base: Obj | null | undefined, over: Obj | null | undefined): Obj {
  const out: Obj = { ...(base ?? {}) };
  for (const [k, v] of Object.entries(over ?? {})) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

const isSet = (v: unknown): v is Obj => v !== undefined && v !== null;

export const defaultUpdate = (): Obj => ({
  Stagger: 30 * S,
  MaxParallel: 1,
  HealthCheck: 'checks',
  MinHealthyTime: 10 * S,
  HealthyDeadline: 5 * M,
  ProgressDeadline: 10 * M,
  Canary: 0,
  AutoRevert: false,
  AutoPromote: false,
});

const defaultMigrate = (): Obj => ({
  MaxParallel: 1,
  HealthCheck: 'checks',
  MinHealthyTime: 10 * S,
  HealthyDeadline: 5 * M,
});

function defaultReschedule(type: string): Obj | null {
  if (type === 'service')
    return { Attempts: 0, Interval: 0, Delay: 30 * S, DelayFunction: 'exponential', MaxDelay: H, Unlimited: true };
  if (type === 'batch')
    return { Attempts: 1, Interval: 24 * H, Delay: 5 * S, DelayFunction: 'constant', MaxDelay: 0, Unlimited: false };
  return null;
}

function defaultRestart(type: string): Obj {
  if (type === 'service' || type === 'system')
    return { Interval: 30 * M, Attempts: 2, Delay: 15 * S, Mode: 'fail', RenderTemplates: false };
  return { Interval: 24 * H, Attempts: 3, Delay: 15 * S, Mode: 'fail', RenderTemplates: false };
}

/**
 * Returns a new job with Nomad's defaults filled in. Idempotent. `inPlace` fills `input` itself instead of a
 * copy, for a caller that owns it (the API's register path, which would otherwise copy every job twice).
 */
export function canonicalizeJob(input: Job, opts: { inPlace?: boolean } = {}): Job {
  const j: Obj = (opts.inPlace === true ? input : structuredClone(input)) as Obj;
  fill(j, {
    ID: '',
    Priority: 50,
    Stop: false,
    Region: 'global',
    Namespace: 'default',
    Type: 'service',
    AllAtOnce: false,
    ParentID: '',
    ConsulNamespace: '',
    ConsulToken: '',
    VaultToken: '',
    VaultNamespace: '',
    NomadTokenID: '',
    Status: '',
    StatusDescription: '',
    Stable: false,
    Version: 0,
    CreateIndex: 0,
    ModifyIndex: 0,
    JobModifyIndex: 0,
    NodePool: '',
    Dispatched: false,
  });
  if (j.Name === undefined || j.Name === null || j.Name === '') j.Name = j.ID;
  if (isSet(j.Update)) fill(j.Update, defaultUpdate());
  else if (j.Type === 'service') j.Update = defaultUpdate();
  if (isSet(j.Periodic))
    fill(j.Periodic, { Enabled: true, Spec: '', SpecType: 'cron', ProhibitOverlap: false, TimeZone: 'UTC' });
  if (isSet(j.Multiregion)) canonicalizeMultiregion(j.Multiregion);
  for (const a of j.Affinities ?? []) fill(a, { Weight: 50 });
  for (const sp of j.Spreads ?? []) canonicalizeSpread(sp);
  for (const tg of j.TaskGroups ?? []) canonicalizeGroup(tg, j);
  return j as Job;
}

function canonicalizeMultiregion(m: Obj): void {
  m.Strategy = fill(m.Strategy ?? {}, { MaxParallel: 0, OnFailure: '' });
  for (const r of m.Regions ?? []) fill(r, { Name: '', Count: 0, NodePool: '' });
}

function canonicalizeSpread(sp: Obj): void {
  fill(sp, { Weight: 50 });
}

function canonicalizeGroup(g: Obj, job: Obj): void {
  fill(g, { Name: '' });
  if (!isSet(g.Count)) g.Count = isSet(g.Scaling) && isSet(g.Scaling.Min) ? g.Scaling.Min : 1;
  if (isSet(g.Scaling))
    fill(g.Scaling, {
      Enabled: true,
      Min: g.Count,
      Type: 'horizontal',
      ID: '',
      Namespace: '',
      CreateIndex: 0,
      ModifyIndex: 0,
    });
  g.EphemeralDisk = fill(g.EphemeralDisk ?? {}, { Sticky: false, Migrate: false, SizeMB: 300 });

  let upd: Obj | null = isSet(job.Update) ? { ...job.Update } : null;
  if (isSet(g.Update)) upd = upd ? merge(upd, g.Update) : { ...g.Update };
  g.Update = upd ? fill(upd, defaultUpdate()) : null;

  let mig: Obj | null = isSet(job.Migrate) ? merge(job.Migrate, g.Migrate) : isSet(g.Migrate) ? g.Migrate : null;
  if (job.Type === 'service') mig = merge(defaultMigrate(), mig);
  g.Migrate = mig;

  let resch = defaultReschedule(job.Type);
  if (resch) {
    resch = merge(merge(resch, job.Reschedule), g.ReschedulePolicy);
    g.ReschedulePolicy = resch;
  } else if (isSet(g.ReschedulePolicy)) {
    g.ReschedulePolicy = merge(
      { Attempts: 0, Interval: 0, Delay: 0, DelayFunction: '', MaxDelay: 0, Unlimited: false },
      g.ReschedulePolicy,
    );
  }

  g.RestartPolicy = merge(defaultRestart(job.Type), g.RestartPolicy);
  g.Consul = fill(g.Consul ?? {}, { Namespace: '', Cluster: 'default', Partition: '' });
  if (g.Consul.Cluster === '') g.Consul.Cluster = 'default';
  fill(g, { PreventRescheduleOnLost: false });
  if (isSet(g.Disconnect)) fill(g.Disconnect, { Replace: true, Reconcile: 'best_score', LostAfter: 0 });
  for (const a of g.Affinities ?? []) fill(a, { Weight: 50 });
  for (const sp of g.Spreads ?? []) canonicalizeSpread(sp);
  for (const n of g.Networks ?? []) canonicalizeNetwork(n);
  for (const v of Object.values(g.Volumes ?? {}) as Obj[]) {
    fill(v, { ReadOnly: false, AccessMode: '', AttachmentMode: '', PerAlloc: false });
    if (isSet(v.MountOptions)) fill(v.MountOptions, { FSType: '' });
  }
  for (const s of g.Services ?? []) canonicalizeService(s, null, g, job);
  for (const t of g.Tasks ?? []) canonicalizeTask(t, g, job);
}

export function canonicalizeNetwork(n: Obj): void {
  fill(n, { Mode: '', Device: '', CIDR: '', IP: '', Hostname: '' });
  for (const p of [...(n.ReservedPorts ?? []), ...(n.DynamicPorts ?? [])])
    fill(p, { Value: 0, To: 0, HostNetwork: '' });
}

function canonicalizeTask(t: Obj, g: Obj, job: Obj): void {
  fill(t, { User: '', Leader: false, ShutdownDelay: 0, KillSignal: '', Kind: '', KillTimeout: 5 * S });
  t.Resources = canonicalizeResources(t.Resources ?? {});
  for (const n of t.Resources.Networks ?? []) canonicalizeNetwork(n);
  for (const d of t.Resources.Devices ?? []) fill(d, { Count: 1 });
  t.LogConfig = fill(t.LogConfig ?? {}, { MaxFiles: 10, MaxFileSizeMB: 10, Disabled: false });
  for (const a of t.Artifacts ?? []) canonicalizeArtifact(a);
  if (isSet(t.Vault)) {
    fill(t.Vault, {
      Env: true,
      DisableFile: false,
      Namespace: '',
      Role: '',
      Cluster: 'default',
      ChangeMode: 'restart',
      AllowTokenExpiration: false,
    });
    if (!isSet(t.Vault.ChangeSignal)) t.Vault.ChangeSignal = 'SIGHUP';
    if (t.Vault.Cluster === '') t.Vault.Cluster = 'default';
  }
  for (const tmpl of t.Templates ?? []) canonicalizeTemplate(tmpl);
  for (const s of t.Services ?? []) canonicalizeService(s, t, g, job);
  for (const a of t.Affinities ?? []) fill(a, { Weight: 50 });
  for (const vm of t.VolumeMounts ?? []) fill(vm, { PropagationMode: 'private', ReadOnly: false, SELinuxLabel: '' });
  if (isSet(t.Lifecycle) && !t.Lifecycle.Hook && !t.Lifecycle.Sidecar) t.Lifecycle = null;
  if (isSet(t.Identity)) canonicalizeIdentity(t.Identity);
  for (const id of t.Identities ?? []) canonicalizeIdentity(id);
  if (isSet(t.CSIPluginConfig))
    fill(t.CSIPluginConfig, { MountDir: '', StagePublishBaseDir: '', HealthTimeout: 30 * S });
  t.RestartPolicy = isSet(g.RestartPolicy) ? merge(g.RestartPolicy, t.RestartPolicy) : t.RestartPolicy;
  for (const sp of t.ScalingPolicies ?? [])
    fill(sp, { Enabled: true, ID: '', Namespace: '', CreateIndex: 0, ModifyIndex: 0 });
}

function canonicalizeResources(r: Obj): Obj {
  // Cores given without CPU means CPU is derived from the cores, so it stays zero.
  if (!isSet(r.Cores)) {
    r.Cores = 0;
    fill(r, { CPU: 100 });
  }
  return fill(r, { MemoryMB: 300 });
}

function canonicalizeIdentity(id: Obj): void {
  fill(id, {
    Name: 'default',
    Audience: ['nomad.io'],
    ChangeMode: '',
    ChangeSignal: '',
    Env: false,
    File: false,
    ServiceName: '',
    TTL: 0,
  });
}

function canonicalizeArtifact(a: Obj): void {
  fill(a, { GetterSource: '', GetterMode: 'any', GetterInsecure: false });
  if (!isSet(a.RelativeDest)) {
    if (a.GetterMode === 'file') {
      const src = String(a.GetterSource).split('?')[0] ?? '';
      a.RelativeDest = 'local/' + (src.split('/').pop() ?? '');
    } else a.RelativeDest = 'local/';
  }
}

function canonicalizeTemplate(t: Obj): void {
  fill(t, {
    SourcePath: '',
    DestPath: '',
    EmbeddedTmpl: '',
    ChangeMode: 'restart',
    Splay: 5 * S,
    Perms: '0644',
    LeftDelim: '{{',
    RightDelim: '}}',
    Envvars: false,
    VaultGrace: 0,
    ErrMissingKey: false,
  });
  if (!isSet(t.ChangeSignal)) t.ChangeSignal = t.ChangeMode === 'signal' ? 'SIGHUP' : '';
  else t.ChangeSignal = String(t.ChangeSignal).toUpperCase();
  if (isSet(t.ChangeScript)) fill(t.ChangeScript, { Command: '', Args: [], Timeout: 5 * S, FailOnError: false });
  if (isSet(t.Wait)) fill(t.Wait, {});
}
