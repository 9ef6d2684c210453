/**
 * Per-allocation network namespaces for `network { mode = "bridge" | "none" | "cni/NAME" }`.
 *
 *   setup:    plugins present? ─► `ip netns add drover-<alloc>` ─► state file ─► CNI ADD ─► state file + result
 *             (any failure: CNI DEL of what was added, namespace deleted, state file removed — nothing half-built)
 *   adopt:    after an agent restart the state file and the namespace exist ─► reused as they are
 *   teardown: CNI DEL (veth, IP lease, NAT and firewall rules) ─► `ip netns del` ─► state file removed
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
import type { PortMapping } from '../../drivers/index.js';
import {
  addNetworkList,
  delNetworkList,
  missingPlugins,
  type CniConfList,
  type CniResult,
  type CniRuntime,
} from './cni.js';
import { bridgeConfList, loopbackConfList, operatorConfList, type BridgeSettings } from './config.js';

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
}

interface NetState {
  allocID: string;
  status: AllocNetworkStatus;
  list: CniConfList;
  capabilityArgs: Record<string, unknown>;
  result?: CniResult;
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
export function portMappings(ports: PortMapping[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const p of ports) {
    if (p.value <= 0) continue;
    const containerPort = p.to > 0 ? p.to : p.value;
    for (const protocol of ['tcp', 'udp']) out.push({ hostPort: p.value, containerPort, protocol });
  }
  return out;
}

export class AllocNetworks {
  private readonly stateDir: string;

  constructor(
    private readonly settings: BridgeSettings,
    dataDir: string,
    private readonly log: Logger,
  ) {
    this.stateDir = join(dataDir, 'net');
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
  async setup(allocID: string, mode: string, ports: PortMapping[], signal?: AbortSignal): Promise<AllocNetworkStatus> {
    const prior = this.readState(allocID);
    if (prior && prior.result && existsSync(prior.status.netnsPath)) {
      this.log.info('adopted allocation network', { alloc_id: allocID, netns: prior.status.netnsName });
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
    const capabilityArgs = { portMappings: portMappings(ports) };
    const st: NetState = { allocID, status, list, capabilityArgs };
    if (existsSync(status.netnsPath)) await run('ip', ['netns', 'del', netnsName]);
    this.writeState(st);
    try {
      await run('ip', ['netns', 'add', netnsName]);
      const result = await addNetworkList(list, this.runtime(st), signal);
      const ip = result.ips?.[0];
      status.ip = ip ? ip.address.split('/')[0]! : '';
      status.gateway = ip?.gateway ?? '';
      st.result = result;
      this.writeState(st);
      return status;
    } catch (e) {
      await run('ip', ['netns', 'del', netnsName]).catch(() => {});
      rmSync(this.statePath(allocID), { force: true });
      throw e instanceof DroverError ? e : new DroverError('NetworkError', String(e));
    }
  }

  private runtime(st: NetState): CniRuntime {
    return {
      containerID: st.allocID,
      netnsPath: st.status.netnsPath,
      ifName: st.status.interfaceName,
      binDirs: this.settings.cniPath,
      capabilityArgs: st.capabilityArgs,
    };
  }

  /** Removes the allocation's namespace, veth, IP lease and NAT rules. Safe to call when nothing exists. */
  async teardown(allocID: string): Promise<void> {
    const st = this.readState(allocID);
    const netnsName = st?.status.netnsName ?? `drover-${allocID}`;
    if (st) {
      await delNetworkList(st.list, this.runtime(st), st.result).catch((e: unknown) =>
        this.log.warn('CNI DEL failed', { alloc_id: allocID, err: String(e) }),
      );
    }
    if (existsSync(join(NETNS_DIR, netnsName)))
      await run('ip', ['netns', 'del', netnsName]).catch((e: unknown) =>
        this.log.warn('cannot delete network namespace', { alloc_id: allocID, err: String(e) }),
      );
    rmSync(this.statePath(allocID), { force: true });
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
    for (const id of this.recorded()) if (!keep.has(id)) await this.teardown(id);
  }
}
