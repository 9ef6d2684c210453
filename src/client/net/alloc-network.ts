/**
 * Per-allocation network namespaces for `network { mode = "bridge" | "none" | "cni/NAME" }`.
 *
 *   setup:    plugins present? ─► state file ─► namespace ─► CNI ADD (bridge: with `lo` up alongside)
 *             ─► bridge: NAT rules in one iptables-restore (host-nat.ts) ─► resolv.conf ─► state file + result
 *             (any failure: CNI DEL of what was added, namespace deleted, holder removed, state file removed —
 *             nothing half-built)
 *   namespace: `ip netns add drover-<alloc>`; or, when a task's driver must hold it (docker's pause container),
 *             the holder's namespace pinned at the same path with `ip netns attach drover-<alloc> <pid>`
 *   adopt:    after an agent restart the state file and the namespace exist ─► reused as they are
 *   teardown: CNI DEL (veth, IP lease) and NAT rules removed ─► `ip netns del` ─► holder removed ─► state file
 *             and resolv.conf removed
 *   orphans:  state files of allocations the restarted agent no longer runs are torn down
 *
 * The state file (`<data dir>/net/<alloc>.json`) is written before ADD, so an agent killed mid-setup leaves a
 * record that the next agent tears down.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DroverError } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';
import { sleep } from '../../lib/sleep.js';
import type { NetworkHolder, PortMapping, TaskDriver } from '../../drivers/index.js';
import {
  addNetworkList,
  delNetworkList,
  missingPlugins,
  type CniConfList,
  type CniResult,
  type CniRuntime,
} from './cni.js';
import { bridgeConfList, loopbackConfList, operatorConfList, type BridgeSettings } from './config.js';
import { HostNat, type HostPortMapping } from './host-nat.js';

export const NETNS_DIR = '/var/run/netns';
const IFNAME = 'eth0';

/** What the tasks of an allocation need to join its network. */
export interface AllocNetworkStatus {
  mode: string;
  netnsName: string;
  netnsPath: string;
  /** The allocation's address inside its namespace ('' for mode "none"). */
  ip: string;
  /** The bridge's address, the namespace's default gateway ('' when none). */
  gateway: string;
  /** Interface of the address. */
  interfaceName: string;
  /** The allocation's resolv.conf (bridge and cni modes), mounted by drivers that give tasks their own /etc. */
  resolvConf?: string;
  /** The nameservers it lists, for `alloc status` and the allocation's NetworkStatus. */
  dns?: { servers: string[]; searches: string[]; options: string[] };
}

/** A driver that holds namespaces itself (docker: pause containers); `name` is recorded for teardown. */
export interface NamespaceHolder {
  name: string;
  create(allocID: string, signal?: AbortSignal): Promise<NetworkHolder>;
  destroy(allocID: string): Promise<void>;
}

/** The group's `network { dns { servers searches options } }` block. */
export interface DnsSettings {
  Servers?: string[] | null;
  Searches?: string[] | null;
  Options?: string[] | null;
}

export interface SetupOptions {
  /** Holds the namespace (the first driver of the group's tasks that must). */
  holder?: NamespaceHolder;
  dns?: DnsSettings | null;
  signal?: AbortSignal;
}

interface NetState {
  allocID: string;
  status: AllocNetworkStatus;
  list: CniConfList;
  capabilityArgs: Record<string, unknown>;
  result?: CniResult;
  /** The name of the NamespaceHolder that holds the namespace, when one does. */
  holder?: string;
  /** The client wrote NAT rules for it (bridge mode; host-nat.ts). */
  nat?: boolean;
}

/** True for the modes that get their own namespace. */
export function isolatedMode(mode: string | undefined): boolean {
  return mode === 'bridge' || mode === 'none' || (mode ?? '').startsWith('cni/');
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 15_000, encoding: 'utf8' }, (err, _out, stderr) => {
      if (err) reject(new DroverError('NetworkError', `${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

/** The portmap capability argument of the allocation's port mappings (tcp and udp, as Nomad maps both). */
export function portMappings(ports: PortMapping[]): HostPortMapping[] {
  const out: HostPortMapping[] = [];
  for (const p of ports) {
    if (p.value <= 0) continue;
    const containerPort = p.to > 0 ? p.to : p.value;
    for (const protocol of ['tcp', 'udp']) out.push({ hostPort: p.value, containerPort, protocol });
  }
  return out;
}

/** The holder a task driver offers (docker), or undefined when the client creates the namespace itself. */
export function namespaceHolder(name: string, driver: TaskDriver | undefined): NamespaceHolder | undefined {
  if (!driver?.createNetwork || !driver.destroyNetwork) return undefined;
  return {
    name,
    create: (allocID, signal) => driver.createNetwork!(allocID, signal),
    destroy: (allocID) => driver.destroyNetwork!(allocID),
  };
}

/** Nomad's AllocNetworkStatus of the allocation (`InterfaceName`, `Address`, `DNS`). */
export function networkStatus(st: AllocNetworkStatus): Record<string, unknown> {
  return {
    InterfaceName: st.interfaceName,
    Address: st.ip,
    DNS: st.dns ? { Servers: st.dns.servers, Searches: st.dns.searches, Options: st.dns.options } : null,
  };
}

/** Nameservers of the host's /etc/resolv.conf. */
function hostNameservers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => s !== undefined);
  } catch {
    return [];
  }
}

export class AllocNetworks {
  private readonly stateDir: string;
  private readonly nat: Pick<HostNat, 'add' | 'remove'>;

  constructor(
    private readonly settings: BridgeSettings,
    dataDir: string,
    private readonly log: Logger,
    private readonly hooks: {
      /** Finds a holder by name (teardown after an agent restart). */
      holder?: (name: string) => NamespaceHolder | undefined;
      /** Makes the agent's DNS answer on the bridge gateway (port 53); false when it cannot. */
      bridgeDns?: (gateway: string) => Promise<boolean>;
      /** Told how long each step took: `netns`, `<COMMAND> <plugin>` (the net-setup benchmark's profile). */
      onStep?: (step: string, ms: number) => void;
      /** The host's NAT rules (tests give a fake). */
      nat?: Pick<HostNat, 'add' | 'remove'>;
    } = {},
  ) {
    this.stateDir = join(dataDir, 'net');
    this.nat = hooks.nat ?? new HostNat();
  }

  private statePath(allocID: string): string {
    return join(this.stateDir, `${allocID}.json`);
  }

  private readState(allocID: string): NetState | undefined {
    try {
      return JSON.parse(readFileSync(this.statePath(allocID), 'utf8')) as NetState;
    } catch {
      return undefined;
    }
  }

  private writeState(st: NetState): void {
    mkdirSync(this.stateDir, { recursive: true });
    const tmp = `${this.statePath(st.allocID)}.tmp`;
    writeFileSync(tmp, JSON.stringify(st));
    renameSync(tmp, this.statePath(st.allocID));
  }

  private listFor(mode: string): CniConfList {
    if (mode === 'bridge') return bridgeConfList(this.settings);
    if (mode === 'none') return loopbackConfList();
    if (mode.startsWith('cni/')) return operatorConfList(this.settings.cniConfigDir, mode.slice(4));
    throw new DroverError('NetworkError', `network mode "${mode}" is not supported (host, bridge, none, cni/NAME)`);
  }

  /**
   * Builds (or, after an agent restart, adopts) the namespace of one allocation. Throws a DroverError
   * 'NetworkError' naming the cause; nothing is left behind then.
   */
  async setup(
    allocID: string,
    mode: string,
    ports: PortMapping[],
    opts: SetupOptions = {},
  ): Promise<AllocNetworkStatus> {
    const { holder, signal } = opts;
    const prior = this.readState(allocID);
    if (prior && prior.result && existsSync(prior.status.netnsPath)) {
      this.log.info('adopted allocation network', { alloc_id: allocID, netns: prior.status.netnsName });
      // Its resolv.conf names the agent's DNS on the gateway: the restarted agent answers there again.
      const gw = prior.status.gateway;
      if (gw && prior.status.dns?.servers.includes(gw)) await this.hooks.bridgeDns?.(gw);
      return prior.status;
    }
    if (prior) await this.teardown(allocID);
    const list = this.listFor(mode);
    const missing = missingPlugins(list, this.settings.cniPath);
    if (missing.length > 0)
      throw new DroverError(
        'NetworkError',
        `CNI plugin${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} not found in ${this.settings.cniPath.join(', ')} (install containernetworking-plugins or set client.cni_path)`,
      );
    const netnsName = `drover-${allocID}`;
    const status: AllocNetworkStatus = {
      mode,
      netnsName,
      netnsPath: join(NETNS_DIR, netnsName),
      ip: '',
      gateway: '',
      interfaceName: IFNAME,
    };
    const mappings = portMappings(ports);
    const capabilityArgs = { portMappings: mappings };
    const st: NetState = {
      allocID,
      status,
      list,
      capabilityArgs,
      ...(holder ? { holder: holder.name } : {}),
      ...(mode === 'bridge' ? { nat: true } : {}),
    };
    if (existsSync(status.netnsPath)) await run('ip', ['netns', 'del', netnsName]);
    this.writeState(st);
    let added: Awaited<ReturnType<typeof addNetworkList>> | undefined;
    try {
      const t0 = performance.now();
      if (holder) {
        const h = await holder.create(allocID, signal);
        await run('ip', ['netns', 'attach', netnsName, String(h.pid)]);
      } else {
        await run('ip', ['netns', 'add', netnsName]);
      }
      this.hooks.onStep?.('netns', performance.now() - t0);
      // The bridge chain has no loopback plugin: `lo` goes up with `ip` while the bridge plugin runs.
      // Both settle before either failure counts, so a failed `lo up` never skips the DEL of an ADD that went on.
      const [plugins, lo] = await Promise.allSettled([
        addNetworkList(list, this.runtime(st), signal),
        mode === 'bridge' ? this.timed('lo up', run('ip', ['-n', netnsName, 'link', 'set', 'lo', 'up'])) : undefined,
      ]);
      if (plugins.status === 'fulfilled') added = plugins.value;
      if (plugins.status === 'rejected') throw plugins.reason;
      if (lo.status === 'rejected') throw lo.reason;
      const result = plugins.value;
      const ip = result.ips?.[0];
      status.ip = ip ? ip.address.split('/')[0]! : '';
      status.gateway = ip?.gateway ?? '';
      if (st.nat) {
        const nat = { allocID, ip: status.ip, subnet: this.settings.subnet, ports: mappings };
        await this.timed('ADD nat', this.nat.add(nat, this.settings.bridgeName));
      }
      if (mode !== 'none') await this.writeResolvConf(allocID, status, opts.dns);
      st.result = result;
      this.writeState(st);
      return status;
    } catch (e) {
      // A step after the plugins' ADD failed: their DEL gives back the address lease; the NAT rules go too.
      if (added) await delNetworkList(list, this.runtime(st), added).catch(() => {});
      if (st.nat) await this.nat.remove(allocID).catch(() => {});
      await run('ip', ['netns', 'del', netnsName]).catch(() => {});
      if (holder) await holder.destroy(allocID).catch(() => {});
      rmSync(this.statePath(allocID), { force: true });
      rmSync(this.resolvPath(allocID), { force: true });
      throw e instanceof DroverError ? e : new DroverError('NetworkError', String(e));
    }
  }

  private async timed<T>(step: string, p: Promise<T>): Promise<T> {
    const t0 = performance.now();
    const v = await p;
    this.hooks.onStep?.(step, performance.now() - t0);
    return v;
  }

  private resolvPath(allocID: string): string {
    return join(this.stateDir, `${allocID}.resolv.conf`);
  }

  /**
   * The allocation's resolv.conf: the group's `dns {}` servers when given; else the agent's DNS on the bridge
   * gateway (so `*.service.<domain>` resolves inside); else the host's nameservers that are not loopback ones
   * (those do not exist inside the namespace). Searches and options of the `dns {}` block apply in every case.
   */
  private async writeResolvConf(
    allocID: string,
    status: AllocNetworkStatus,
    dns: DnsSettings | null | undefined,
  ): Promise<void> {
    let servers = [...(dns?.Servers ?? [])];
    if (servers.length === 0 && status.gateway && (await this.hooks.bridgeDns?.(status.gateway))) {
      servers = [status.gateway];
    }
    if (servers.length === 0) servers = hostNameservers().filter((s) => !/^(127\.|::1$)/.test(s));
    const searches = [...(dns?.Searches ?? [])];
    const options = [...(dns?.Options ?? [])];
    const lines = [
      '# Written by Drover for this allocation (network mode bridge/cni).',
      ...servers.map((s) => `nameserver ${s}`),
      ...(searches.length > 0 ? [`search ${searches.join(' ')}`] : []),
      ...(options.length > 0 ? [`options ${options.join(' ')}`] : []),
      '',
    ];
    const path = this.resolvPath(allocID);
    writeFileSync(path, lines.join('\n'), { mode: 0o644 });
    status.resolvConf = path;
    status.dns = { servers, searches, options };
  }

  private runtime(st: NetState): CniRuntime {
    return {
      containerID: st.allocID,
      netnsPath: st.status.netnsPath,
      ifName: st.status.interfaceName,
      binDirs: this.settings.cniPath,
      capabilityArgs: st.capabilityArgs,
      ...(this.hooks.onStep
        ? { onPluginRun: (type: string, cmd: string, ms: number) => this.hooks.onStep!(`${cmd} ${type}`, ms) }
        : {}),
    };
  }

  /** Removes the allocation's namespace, veth, IP lease and NAT rules. Safe to call when nothing exists. */
  async teardown(allocID: string): Promise<void> {
    const st = this.readState(allocID);
    const netnsName = st?.status.netnsName ?? `drover-${allocID}`;
    let natLeft = false;
    if (st) {
      // loopback's DEL only sets lo down in a namespace deleted right after: one plugin run less per teardown.
      const list = { ...st.list, plugins: st.list.plugins.filter((p) => p.type !== 'loopback') };
      const removeNat = async () => {
        try {
          await this.timed('DEL nat', this.nat.remove(allocID));
        } catch {
          // Most often the xtables lock held past --wait by a burst of teardowns: once more, a moment later.
          await sleep(1000);
          await this.nat.remove(allocID).catch((e: unknown) => {
            natLeft = true;
            this.log.warn('cannot remove the NAT rules; tried again at the next agent start', {
              alloc_id: allocID,
              err: String(e),
            });
          });
        }
      };
      await Promise.all([
        delNetworkList(list, this.runtime(st), st.result).catch((e: unknown) =>
          this.log.warn('CNI DEL failed', { alloc_id: allocID, err: String(e) }),
        ),
        st.nat ? removeNat() : undefined,
      ]);
    }
    if (existsSync(join(NETNS_DIR, netnsName)))
      await run('ip', ['netns', 'del', netnsName]).catch((e: unknown) =>
        this.log.warn('cannot delete network namespace', { alloc_id: allocID, err: String(e) }),
      );
    if (st?.holder) {
      const holder = this.hooks.holder?.(st.holder);
      if (!holder)
        this.log.warn('the holder of the namespace is not available', { alloc_id: allocID, holder: st.holder });
      await holder
        ?.destroy(allocID)
        .catch((e: unknown) =>
          this.log.warn('cannot remove the namespace holder', { alloc_id: allocID, err: String(e) }),
        );
    }
    // Rules left behind would capture a later allocation's host port: the state file stays, so the orphan sweep
    // of the next start removes them (a DEL of what is already gone is harmless).
    if (!natLeft) rmSync(this.statePath(allocID), { force: true });
    rmSync(this.resolvPath(allocID), { force: true });
  }

  /** Allocation IDs with a network state file (built or half-built namespaces). */
  recorded(): string[] {
    try {
      return readdirSync(this.stateDir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -'.json'.length));
    } catch {
      return [];
    }
  }

  /** Tears down the namespaces of allocations this agent does not run (stopped or forgotten while it was down). */
  async cleanOrphans(keep: ReadonlySet<string>): Promise<void> {
    // A few at a time: each teardown mostly waits on plugin processes and the xtables lock.
    const ids = this.recorded().filter((id) => !keep.has(id));
    const worker = async () => {
      for (let id = ids.shift(); id !== undefined; id = ids.shift()) await this.teardown(id);
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }
}
