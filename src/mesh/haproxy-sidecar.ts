/**
 * The sidecar on HAProxy (the data plane the client picks when an haproxy binary exists, as Consul uses Envoy):
 * the same two sides as the Node sidecar (proxy.ts), for a fraction of its CPU per request.
 *
 *   outbound (a frontend per upstream, 127.0.0.1:<local_bind_port>) ─► backend of fixed server slots
 *     (balance roundrobin, `ssl crt <leaf> ca-file <roots> verify required verifyhost <svc>.<ns>.mesh.drover`)
 *     a failed connect is retried on another instance (`retries` + `option redispatch`); a server whose
 *     connections fail is marked down (observe layer4) and re-admitted by its TLS check
 *   inbound (the mesh port): `ssl crt <leaf> ca-file <roots> verify required`; the caller's subject
 *     (OU=<ns>, CN=<service>) is looked up in the intentions map ─► reject, or TCP to the local service
 *
 * HAProxy runs as the sidecar task in the allocation's namespace, in master-worker mode; the agent drives it
 * from the host through the unix sockets in the task's secrets dir, with no reload for what changes often:
 *   instances ─► `set server addr` / `state ready|maint` on the slots
 *   intentions ─► `prepare map` / `add map @v` / `commit map @v` (atomic: no request sees a half-written map)
 *   a new leaf ─► `set ssl cert` / `commit ssl cert` (bind and servers share one file: served on the next
 *     handshake)
 * and with a seamless reload (`reload` on the master CLI: the new worker takes over the listening sockets, the
 * old one finishes its connections) for the rest: new roots (HAProxy 2.6's `commit ssl ca-file` drops the
 * certificates' links, so later leaf commits would no longer apply), listeners added or removed, more instances
 * than slots, and the first apply after an agent restart (state unknown: render everything once).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, relative } from 'node:path';
import { haproxyCommand } from '../lib/haproxy/runtime.js';
import { intentionAllows, type MeshSidecarMaterial } from '../structs/index.js';
import type { Logger } from '../logging/index.js';
import { meshHostName, meshSubjectNamespace } from './ca.js';
import type { SidecarConfig, UpstreamConfig } from './proxy.js';

/** The directory, under the sidecar task's secrets dir, holding HAProxy's config, certificates and sockets. */
export const HAPROXY_SIDECAR_DIR = 'haproxy';
export const HAPROXY_SIDECAR_CONFIG = 'haproxy.cfg';

/**
 * The files of one sidecar, all under `dir`. A unix socket's path holds 107 bytes and an allocation dir is deep:
 * HAProxy binds its sockets by their path relative to its working directory `cwd` (the task dir), and the agent
 * reaches them through the directory's descriptor (src/lib/haproxy/runtime.ts).
 */
export function haproxySidecarPaths(dir: string, cwd: string) {
  const rel = relative(cwd, dir);
  return {
    dir,
    statsBind: join(rel, 'a.sock'),
    masterBind: join(rel, 'm.sock'),
    cfg: join(dir, HAPROXY_SIDECAR_CONFIG),
    leaf: join(dir, 'leaf.pem'),
    roots: join(dir, 'roots.pem'),
    map: join(dir, 'intentions.map'),
    stats: join(dir, 'a.sock'),
    master: join(dir, 'm.sock'),
  };
}
export type HaproxySidecarPaths = ReturnType<typeof haproxySidecarPaths>;

/** The longest unix socket path HAProxy binds (sun_path, less the `.<pid>.tmp` it binds first). */
const SOCKET_PATH_MAX = 107 - 16;

/** The TLS check of a live server. */
const CHECK_INTER_MS = 2_000;
/**
 * The check of a server marked down (a failed connect or check): HAProxy has no "use them all when all are
 * ejected" as the Node sidecar has, so a lone instance that failed once (its sidecar still starting) must come
 * back soon.
 */
const DOWN_INTER_MS = 250;

/**
 * The intentions as map entries for the inbound of `cfg.Service`, decided here with the same rules as the Node
 * sidecar (intentionAllows). Keys, looked up in this order: `<ns>/<service>`, `<ns>/*` (a service no intention
 * names), `* /<service>` (a namespace none names, without the space), `*` (neither).
 */
export function intentionEntries(
  m: Pick<MeshSidecarMaterial, 'Intentions' | 'DefaultAction'>,
  dst: {
    namespace: string;
    service: string;
  },
): Array<[string, 'allow' | 'deny']> {
  const named = (v: string) => v !== '' && v !== '*';
  const namespaces = [...new Set([dst.namespace, ...m.Intentions.map((i) => i.SourceNS).filter(named)])].sort();
  const services = [...new Set(m.Intentions.map((i) => i.SourceName).filter(named))].sort();
  // A name no intention can carry stands for "any other".
  const OTHER = '\u0000';
  const decide = (namespace: string, service: string): 'allow' | 'deny' =>
    intentionAllows(m.Intentions, m.DefaultAction, { namespace, service }, dst) ? 'allow' : 'deny';
  const out: Array<[string, 'allow' | 'deny']> = [];
  for (const ns of namespaces) {
    const key = meshSubjectNamespace(ns); // as the caller's leaf names it
    for (const svc of services) out.push([`${key}/${svc}`, decide(ns, svc)]);
    out.push([`${key}/*`, decide(ns, OTHER)]);
  }
  for (const svc of services) out.push([`*/${svc}`, decide(OTHER, svc)]);
  out.push(['*', decide(OTHER, OTHER)]);
  return out;
}

/** Names HAProxy's config can carry as they are (the mesh's names are checked long before; this is the last line). */
const SAFE = /^[A-Za-z0-9._:/-]+$/;

function slotsFor(n: number): number {
  return Math.max(8, 2 ** Math.ceil(Math.log2(Math.max(1, n) * 2)));
}

interface Rendered {
  /** What needs a reload when it changes: listeners, local ports, slot counts. */
  shape: string;
  roots: string;
  leaf: string;
  map: string;
  /** Per upstream key: the instance address in each slot ('' = free). */
  slots: Map<string, string[]>;
}

/** `address:port` of an upstream's listener; refuses what is not an IP literal and a port (it goes into the config). */
function upstreamKey(u: UpstreamConfig): string {
  const addr = u.LocalBindAddress || '127.0.0.1';
  if (isIP(addr) === 0 || !Number.isInteger(u.LocalBindPort) || u.LocalBindPort < 1 || u.LocalBindPort > 65535)
    throw new Error(`the HAProxy sidecar cannot listen on "${addr}" port "${String(u.LocalBindPort)}"`);
  return isIP(addr) === 6 ? `[${addr}]:${u.LocalBindPort}` : `${addr}:${u.LocalBindPort}`;
}

/** An instance is only ever an IP literal and a port (it goes into the config and the runtime API). */
function isInstance(i: { Address: string; Port: number }): boolean {
  return isIP(i.Address) !== 0 && Number.isInteger(i.Port) && i.Port > 0 && i.Port < 65536;
}

function instanceAddr(i: { Address: string; Port: number }): string {
  return `${i.Address}:${i.Port}`;
}

/** The HAProxy configuration for `cfg`, with the servers in `slots` (rendered as they are, for a reload). */
export function renderHaproxySidecar(cfg: SidecarConfig, p: HaproxySidecarPaths, slots: Map<string, string[]>): string {
  for (const v of [cfg.Service, cfg.Namespace, p.dir])
    if (!SAFE.test(v)) throw new Error(`the HAProxy sidecar cannot take "${v}"`);
  const lines = [
    '# Written by the Drover client agent for this allocation; changed through the runtime API.',
    'global',
    `  stats socket unix@${p.statsBind} mode 600 level admin`,
    '  nbthread 1',
    // After a reload the old worker finishes its connections, but not for ever: long-lived ones are cut then.
    '  hard-stop-after 10m',
    '  log stderr format raw local0 notice',
    // Without it a resumed TLS session would skip the client-certificate check against the current roots.
    '  tune.ssl.lifetime 60',
    'defaults',
    '  mode tcp',
    '  log global',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout client-fin 5s',
    '  timeout server-fin 5s',
  ];
  const ib = cfg.Inbound;
  if (ib && (isIP(ib.BindAddress) === 0 || !Number.isInteger(ib.Port) || !Number.isInteger(ib.LocalServicePort)))
    throw new Error(`the HAProxy sidecar cannot listen on "${ib.BindAddress}:${ib.Port}"`);
  if (ib) {
    lines.push(
      'frontend inbound',
      `  bind ${ib.BindAddress}:${ib.Port} ssl crt ${p.leaf} ca-file ${p.roots} verify required ssl-min-ver TLSv1.2`,
      '  tcp-request session set-var(sess.ns) ssl_c_s_dn(OU)',
      '  tcp-request session set-var(sess.svc) ssl_c_s_dn(CN)',
      // A caller whose leaf names no namespace or service cannot be judged by its namespace's rules: refused.
      '  tcp-request session reject unless { var(sess.ns) -m found } { var(sess.svc) -m found }',
      `  tcp-request session set-var(sess.v) var(sess.ns),concat(/,sess.svc,),map(${p.map})`,
      `  tcp-request session set-var(sess.v) var(sess.ns),concat(,,/*),map(${p.map}) unless { var(sess.v) -m found }`,
      `  tcp-request session set-var(sess.v) str(*/),concat(,sess.svc,),map(${p.map}) unless { var(sess.v) -m found }`,
      `  tcp-request session set-var(sess.v) str(*),map(${p.map}) unless { var(sess.v) -m found }`,
      '  tcp-request session reject unless { var(sess.v) -m str allow }',
      '  default_backend local',
      'backend local',
      `  server local 127.0.0.1:${ib.LocalServicePort}`,
    );
  }
  cfg.Upstreams.forEach((u, n) => {
    const dest = meshHostName(u.DestinationNamespace || cfg.Namespace, u.DestinationName);
    if (!SAFE.test(dest)) throw new Error(`the HAProxy sidecar cannot take "${dest}"`);
    const taken = slots.get(upstreamKey(u)) ?? [];
    lines.push(
      `frontend up${n}`,
      `  bind ${upstreamKey(u)}`,
      `  default_backend up${n}`,
      `backend up${n}`,
      '  balance roundrobin',
      '  retries 3',
      '  option redispatch 1',
      `  default-server ssl crt ${p.leaf} ca-file ${p.roots} verify required verifyhost ${dest} ssl-min-ver TLSv1.2` +
        ` check inter ${CHECK_INTER_MS} downinter ${DOWN_INTER_MS} fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down`,
    );
    taken.forEach((addr, k) =>
      lines.push(addr === '' ? `  server s${k + 1} 0.0.0.0:0 disabled` : `  server s${k + 1} ${addr}`),
    );
  });
  return lines.join('\n') + '\n';
}

/**
 * One HAProxy sidecar as the agent sees it: `prepare` writes the files before the task starts, `apply` brings the
 * running HAProxy to a new config. Calls must not overlap (the mesh hook applies one config at a time).
 */
export class HaproxySidecar {
  readonly paths: HaproxySidecarPaths;
  private now: Rendered | undefined;

  /** `dir` holds the files; `cwd` is HAProxy's working directory (the task dir), an ancestor of `dir`. */
  constructor(
    dir: string,
    cwd: string,
    private readonly log: Logger,
    private readonly haproxyBin = 'haproxy',
  ) {
    this.paths = haproxySidecarPaths(dir, cwd);
    if (this.paths.statsBind.startsWith('..') || this.paths.statsBind.length > SOCKET_PATH_MAX)
      throw new Error(`the HAProxy sidecar's directory ${dir} is not a short path under ${cwd}`);
  }

  /** Writes every file HAProxy starts from (the task is not running yet). */
  prepare(cfg: SidecarConfig): void {
    this.writeAll(this.target(cfg, undefined), cfg);
  }

  /**
   * Brings the running HAProxy to `cfg`: runtime commands when they can, else a seamless reload. Calls run one
   * at a time, in order (a call made while one runs waits for it).
   */
  apply(cfg: SidecarConfig, signal?: AbortSignal): Promise<void> {
    const run = this.applying.then(() => this.applyNow(cfg, signal));
    this.applying = run.catch(() => undefined);
    return run;
  }

  private applying: Promise<void> = Promise.resolve();

  private async applyNow(cfg: SidecarConfig, signal?: AbortSignal): Promise<void> {
    const prev = this.now;
    const next = this.target(cfg, prev);
    if (prev === undefined || prev.shape !== next.shape || prev.roots !== next.roots) {
      this.writeAll(next, cfg);
      try {
        await this.reload(signal);
      } catch (e) {
        this.now = undefined; // state unknown: the next apply renders everything and reloads again
        throw e;
      }
      return;
    }
    try {
      await this.applyRuntime(cfg, prev, next, signal);
    } catch (e) {
      this.now = undefined; // some of it may have changed: the next apply renders everything and reloads
      throw e;
    }
  }

  /** The changes HAProxy takes without a reload: a new leaf, the intentions, the instances in their slots. */
  private async applyRuntime(cfg: SidecarConfig, prev: Rendered, next: Rendered, signal?: AbortSignal): Promise<void> {
    const run = async (command: string) => {
      // The answer may echo the certificate's path, which holds the service's name: judge it without that.
      const answer = await haproxyCommand(this.paths.stats, command, signal);
      const said = answer.split(this.paths.dir).join('');
      if (/not found|error|unknown|invalid|require|can't|failed/i.test(said))
        throw new Error(`HAProxy refused "${command.split('\n')[0]}": ${answer.trim()}`);
      return answer;
    };
    if (prev.leaf !== next.leaf) {
      writeFile(this.paths.leaf, next.leaf);
      await run(`set ssl cert ${this.paths.leaf} <<\n${next.leaf.trim()}\n`);
      await run(`commit ssl cert ${this.paths.leaf}`);
      this.now = { ...prev, leaf: next.leaf };
    }
    if (prev.map !== next.map) {
      writeFile(this.paths.map, next.map);
      const version = /version created: (\d+)/i.exec(await run(`prepare map ${this.paths.map}`))?.[1];
      if (version === undefined) throw new Error('HAProxy did not open a map transaction');
      for (const line of next.map.split('\n').filter(Boolean))
        await run(`add map @${version} ${this.paths.map} ${line}`);
      await run(`commit map @${version} ${this.paths.map}`);
      this.now = { ...this.now!, map: next.map };
    }
    const commands: string[] = [];
    cfg.Upstreams.forEach((u, n) => {
      const was = prev.slots.get(upstreamKey(u)) ?? [];
      const want = next.slots.get(upstreamKey(u)) ?? [];
      want.forEach((addr, k) => {
        if (addr === was[k]) return;
        const server = `up${n}/s${k + 1}`;
        if (addr === '') commands.push(`set server ${server} state maint`);
        else {
          const i = addr.lastIndexOf(':');
          commands.push(
            `set server ${server} addr ${addr.slice(0, i)} port ${addr.slice(i + 1)}`,
            `set server ${server} state ready`,
          );
        }
      });
    });
    // Admissions first (the target keeps old slots in place), so an upstream is never empty in between.
    commands.sort((a, b) => Number(a.endsWith('maint')) - Number(b.endsWith('maint')));
    for (const c of commands) await run(c);
    this.now = { ...this.now!, slots: next.slots };
    // The file follows the servers, so an HAProxy that restarts (the task restarted) starts from them.
    if (commands.length > 0) writeFile(this.paths.cfg, renderHaproxySidecar(cfg, this.paths, next.slots));
  }

  /** What `cfg` renders to, keeping instances in the slots they hold in `prev` (HAProxy's state per server). */
  private target(cfg: SidecarConfig, prev: Rendered | undefined): Rendered {
    const slots = new Map<string, string[]>();
    const shape: unknown[] = [cfg.Inbound ?? null];
    for (const u of cfg.Upstreams) {
      const key = upstreamKey(u);
      const want = new Set(u.Instances.filter(isInstance).map(instanceAddr));
      const was = prev?.slots.get(key);
      const size = was && want.size <= was.length ? was.length : slotsFor(want.size);
      const taken = new Array<string>(size).fill('');
      // Kept instances stay in their slot; a slot freed now is not refilled in the same change.
      const freed = new Set<number>();
      was?.forEach((addr, k) => {
        if (k >= size) return;
        if (want.has(addr)) {
          taken[k] = addr;
          want.delete(addr);
        } else if (addr !== '') freed.add(k);
      });
      for (const addr of want) {
        let k = taken.findIndex((a, j) => a === '' && !freed.has(j));
        if (k < 0) k = taken.findIndex((a) => a === '');
        if (k < 0) break;
        taken[k] = addr;
      }
      slots.set(key, taken);
      shape.push([key, u.DestinationName, u.DestinationNamespace, size]);
    }
    const m = cfg.Material;
    return {
      shape: JSON.stringify(shape),
      roots: m.RootsPEM,
      leaf: `${m.CertPEM.trim()}\n${m.KeyPEM.trim()}\n`,
      map:
        intentionEntries(m, { namespace: cfg.Namespace, service: cfg.Service })
          .map(([k, v]) => `${k} ${v}`)
          .join('\n') + '\n',
      slots,
    };
  }

  private writeAll(r: Rendered, cfg: SidecarConfig): void {
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    writeFile(this.paths.roots, r.roots);
    writeFile(this.paths.leaf, r.leaf);
    writeFile(this.paths.map, r.map);
    writeFile(this.paths.cfg, renderHaproxySidecar(cfg, this.paths, r.slots));
    this.now = r;
  }

  /** `haproxy -c` on the new config, then `reload` on the master CLI; resolves once a new worker answers. */
  private async reload(signal?: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      execFile(this.haproxyBin, ['-c', '-q', '-f', this.paths.cfg], { timeout: 10_000 }, (err, _o, stderr) =>
        err ? reject(new Error(`HAProxy rejected the sidecar's configuration: ${String(stderr).trim()}`)) : resolve(),
      ),
    );
    const workers = async () =>
      [
        ...(await haproxyCommand(this.paths.master, 'show proc', signal).catch(() => '')).matchAll(
          /^(\d+)\s+worker\s+(\d+)/gm,
        ),
      ]
        .filter((m) => m[2] === '0')
        .map((m) => Number(m[1]));
    const before = await workers();
    await haproxyCommand(this.paths.master, 'reload', signal);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = await workers();
      if (now.some((p) => !before.includes(p))) break;
      if (Date.now() > deadline) throw new Error('no new HAProxy worker within 10 s of the reload');
      await new Promise((r) => setTimeout(r, 25));
    }
    this.log.debug('mesh: HAProxy sidecar reloaded');
  }
}

function writeFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}
