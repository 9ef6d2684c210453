/**
 * Bodies without a fixed schema: a driver's `config`, a scaling `policy`, `env`/`meta` blocks, and
 * Connect (decoded "loosely" by converting HCL names to Nomad's field names). Free-form blocks become
 * lists of objects, as Nomad's decoder makes them (`labels { FOO = "bar" }` → `labels: [{FOO: "bar"}]`).
 */
import type { Block, Body } from './hcl/index.js';
import { blockPath, convert, evalAttr, problemAt, type DecodeCtx, type Obj } from './decode-body.js';
import { readGoDuration } from '../lib/duration.js';

/** Decodes a free-form body into a plain object. */
export function decodeFreeform(body: Body, self: Block | null, ctx: DecodeCtx, path: string): Obj {
  const out: Obj = {};
  for (const item of body.items) {
    if (item.kind === 'attribute') {
      const v = evalAttr(ctx, item, self, path);
      if (v !== undefined) out[item.name] = v;
      continue;
    }
    const p = blockPath(path, item);
    let inner: Obj = decodeFreeform(item.body, item, ctx, p);
    for (const label of item.labels.toReversed()) inner = { [label]: [inner] };
    (out[item.type] ??= []).push(inner);
  }
  return out;
}

/** `env { K = "v" }` and `meta { ... }`: every value must convert to a string. */
export function decodeStringMapBody(
  body: Body,
  self: Block | null,
  ctx: DecodeCtx,
  path: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of body.items) {
    if (item.kind === 'block') {
      problemAt(
        ctx,
        item.typeRange,
        `Unexpected "${item.type}" block: only arguments (name = value) are allowed here`,
        path,
      );
      continue;
    }
    const v = evalAttr(ctx, item, self, path);
    if (v === undefined) continue;
    const c = convert(v, 'string');
    if (!c.ok || c.value === undefined) {
      problemAt(
        ctx,
        item.expr.range,
        `Incorrect attribute value type for "${item.name}": Unsuitable value: a string required`,
        path,
      );
      continue;
    }
    out[item.name] = c.value as string;
  }
  return out;
}

const ACRONYMS: Record<string, string> = {
  id: 'ID',
  uid: 'UID',
  uids: 'UIDs',
  tls: 'TLS',
  sni: 'SNI',
  ca: 'CA',
  dns: 'DNS',
  cidrs: 'CIDRs',
  cidr: 'CIDR',
  ip: 'IP',
  url: 'URL',
  http: 'HTTP',
  grpc: 'GRPC',
  ttl: 'TTL',
  sds: 'SDS',
  no: 'No',
};

/** Block names whose Nomad field is a list under a plural name. */
const LIST_BLOCKS: Record<string, string> = {
  upstreams: 'Upstreams',
  listener: 'Listeners',
  service: 'Services',
  path: 'Paths',
  paths: 'Paths',
};
/** Blocks keyed by their label, with the label stored as Name. */
const MAP_BLOCKS = new Set(['envoy_gateway_bind_addresses']);
/** Blocks that stay free-form maps. */
const FREEFORM_BLOCKS = new Set(['config', 'meta', 'env', 'add', 'set']);
const RENAMES: Record<string, string> = {
  destination_namespace: 'DestinationNamespace',
  expose: 'Expose',
  tls_min_version: 'TLSMinVersion',
  tls_max_version: 'TLSMaxVersion',
  local_service_address: 'LocalServiceAddress',
  ca_file: 'CAFile',
  envoy_dns_discovery_type: 'EnvoyDNSDiscoveryType',
  disable_default_tcp_check: 'DisableDefaultTCPCheck',
  exclude_outbound_cidrs: 'ExcludeOutboundCIDRs',
  exclude_uids: 'ExcludeUIDs',
  no_dns: 'NoDNS',
  tls_server_name: 'TLSServerName',
  kill_timeout: 'KillTimeout',
  shutdown_delay: 'ShutdownDelay',
  memory: 'MemoryMB',
  memory_max: 'MemoryMaxMB',
  cpu: 'CPU',
  logs: 'LogConfig',
  max_file_size: 'MaxFileSizeMB',
  max_files: 'MaxFiles',
  listener_port: 'ListenerPort',
  local_path_port: 'LocalPathPort',
};

export function pascal(name: string): string {
  const renamed = RENAMES[name];
  if (renamed) return renamed;
  return name
    .split('_')
    .map((w) => ACRONYMS[w] ?? w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

const DURATION_FIELD = /(Timeout|Interval|Delay|Grace)$/;

/** Decodes Connect-shaped bodies by name conversion (documented in docs/jobspec.md). */
export function decodeLoose(body: Body, self: Block | null, ctx: DecodeCtx, path: string): Obj {
  const out: Obj = {};
  for (const item of body.items) {
    if (item.kind === 'attribute') {
      let v = evalAttr(ctx, item, self, path);
      if (v === undefined) continue;
      const field = pascal(item.name);
      if (typeof v === 'string' && DURATION_FIELD.test(field)) {
        const d = readGoDuration(v.trim());
        if (!d.ok) {
          problemAt(ctx, item.expr.range, `Incorrect attribute value type for "${item.name}": ${d.error}`, path);
          continue;
        }
        v = d.ns;
      } else if (
        field === 'LocalServicePort' ||
        field === 'LocalBindPort' ||
        field === 'OutboundPort' ||
        field === 'LocalPathPort' ||
        (field === 'Port' && typeof v === 'number')
      ) {
        const c = convert(v, 'int');
        if (c.ok) v = c.value;
      }
      out[field] = v;
      continue;
    }
    const p = blockPath(path, item);
    if (FREEFORM_BLOCKS.has(item.type)) {
      out[pascal(item.type)] = decodeFreeform(item.body, item, ctx, p);
    } else if (MAP_BLOCKS.has(item.type)) {
      const o = decodeLoose(item.body, item, ctx, p);
      const name = item.labels[0] ?? '';
      o.Name = name;
      (out[pascal(item.type)] ??= {})[name] = o;
    } else if (LIST_BLOCKS[item.type]) {
      (out[LIST_BLOCKS[item.type] ?? item.type] ??= []).push(decodeLoose(item.body, item, ctx, p));
    } else if (item.type === 'resources') {
      out.Resources = decodeLoose(item.body, item, ctx, p);
    } else {
      out[pascal(item.type)] = decodeLoose(item.body, item, ctx, p);
    }
  }
  return out;
}
