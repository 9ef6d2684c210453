/**
 * Service, check and Connect defaults, split from canonicalize.ts because Connect alone has
 * several nested shapes (sidecar service, sidecar task, gateways) each with their own defaults.
 */
type Obj = Record<string, any>;

const S = 1e9;
const isSet = (v: unknown): v is Obj => v !== undefined && v !== null;
const isEmpty = (v: unknown) => !isSet(v) || (typeof v === 'object' && Object.keys(v as Obj).length === 0);

function fill(o: Obj, defaults: Obj): Obj {
  for (const [k, v] of Object.entries(defaults)) if (o[k] === undefined || o[k] === null) o[k] = v;
  return o;
}

export function canonicalizeService(s: Obj, t: Obj | null, g: Obj, job: Obj): void {
  if (!s.Name) s.Name = t ? `${job.Name}-${g.Name}-${t.Name}` : `${job.Name}-${g.Name}`;
  if (!s.AddressMode) s.AddressMode = 'auto';
  for (const k of ['Meta', 'CanaryMeta', 'TaggedAddresses']) if (isEmpty(s[k])) s[k] = null;
  if (!s.OnUpdate) s.OnUpdate = 'require_healthy';
  if (!s.Provider) s.Provider = 'consul';
  if (!s.Cluster) s.Cluster = 'default';
  fill(s, { EnableTagOverride: false, PortLabel: '', Address: '', TaskName: '' });
  if (isSet(s.Connect)) canonicalizeConnect(s.Connect);
  for (const c of s.Checks ?? []) {
    const cr =
      isSet(s.CheckRestart) || isSet(c.CheckRestart)
        ? { ...(s.CheckRestart ?? {}), ...stripNull(c.CheckRestart) }
        : null;
    if (cr) fill(cr, { Limit: 0, Grace: 1 * S, IgnoreWarnings: false });
    c.CheckRestart = cr;
    for (const k of ['SuccessBeforePassing', 'FailuresBeforeCritical', 'FailuresBeforeWarning'])
      if (!(c[k] > 0)) c[k] = 0;
    if (!c.OnUpdate) c.OnUpdate = s.OnUpdate;
  }
}

function stripNull(o: Obj | null | undefined): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o ?? {})) if (isSet(v)) out[k] = v;
  return out;
}

function canonicalizeConnect(c: Obj): void {
  fill(c, { Native: false });
  if (isSet(c.SidecarService)) {
    const ss = c.SidecarService;
    if (isEmpty(ss.Tags)) ss.Tags = null;
    if (isEmpty(ss.Meta)) ss.Meta = null;
    fill(ss, { Port: '', DisableDefaultTCPCheck: false });
    if (isSet(ss.Proxy)) canonicalizeProxy(ss.Proxy);
  }
  if (isSet(c.SidecarTask)) canonicalizeSidecarTask(c.SidecarTask);
  if (isSet(c.Gateway)) canonicalizeGateway(c.Gateway);
}

function canonicalizeProxy(p: Obj): void {
  if (isEmpty(p.Upstreams)) p.Upstreams = null;
  for (const u of p.Upstreams ?? []) {
    fill(u, {
      DestinationName: '',
      DestinationNamespace: '',
      DestinationPeer: '',
      DestinationPartition: '',
      DestinationType: '',
      LocalBindPort: 0,
      Datacenter: '',
      LocalBindAddress: '',
      LocalBindSocketPath: '',
      LocalBindSocketMode: '',
    });
    if (isEmpty(u.Config)) u.Config = null;
  }
  if (isEmpty(p.Config)) p.Config = null;
  fill(p, { LocalServiceAddress: '', LocalServicePort: 0 });
}

function canonicalizeSidecarTask(t: Obj): void {
  fill(t, { Name: '', Driver: '', User: '', KillTimeout: 5 * S, ShutdownDelay: 0, KillSignal: '' });
  for (const k of ['Config', 'Env', 'Meta']) if (isEmpty(t[k])) t[k] = null;
  t.Resources = fill(t.Resources ?? {}, { CPU: 100, Cores: 0, MemoryMB: 300 });
  t.LogConfig = fill(t.LogConfig ?? {}, { MaxFiles: 10, MaxFileSizeMB: 10, Disabled: false });
}

function canonicalizeGateway(g: Obj): void {
  if (isSet(g.Proxy)) {
    fill(g.Proxy, { ConnectTimeout: 5 * S });
    if (isEmpty(g.Proxy.EnvoyGatewayBindAddresses)) g.Proxy.EnvoyGatewayBindAddresses = null;
    if (isEmpty(g.Proxy.Config)) g.Proxy.Config = null;
  }
  if (isSet(g.Ingress)) {
    if (isSet(g.Ingress.TLS)) fill(g.Ingress.TLS, { Enabled: false, TLSMinVersion: '', TLSMaxVersion: '' });
    for (const l of g.Ingress.Listeners ?? []) fill(l, { Protocol: 'tcp' });
  }
}
