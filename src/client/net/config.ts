/**
 * The CNI network lists the client builds: the bridge chain (bridge + host-local IPAM; NAT is host-nat.ts),
 * loopback only for `mode = "none"`, and operator lists from `cni_config_dir` for `mode = "cni/NAME"`.
 * Also the check that the bridge subnet does not overlap an address the host already uses.
 */
import { networkInterfaces } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DroverError } from '../../errors/index.js';
import type { CniConfList, CniPluginConf } from './cni.js';

export interface BridgeSettings {
  /** Nomad's `bridge_network_name` (default "nomad"). */
  bridgeName: string;
  /** Nomad's `bridge_network_subnet` (default 172.26.64.0/20). */
  subnet: string;
  /** Directories holding the CNI plugin binaries (Nomad's `cni_path`). */
  cniPath: string[];
  /** Where operator network lists live (Nomad's `cni_config_dir`). */
  cniConfigDir: string;
}

export const DEFAULT_BRIDGE: BridgeSettings = {
  bridgeName: 'nomad',
  subnet: '172.26.64.0/20',
  cniPath: ['/opt/cni/bin', '/usr/lib/cni'],
  cniConfigDir: '/opt/cni/config',
};

const CNI_VERSION = '0.4.0';

/**
 * The CNI chain of `mode = "bridge"`: the bridge plugin with host-local IPAM. Nomad's chain also runs loopback,
 * firewall and portmap and the bridge's ipMasq; the client does those itself (loopback with `ip`, the rules in
 * one iptables-restore transaction, host-nat.ts), which is one process instead of 40–60.
 */
export function bridgeConfList(s: BridgeSettings): CniConfList {
  return {
    cniVersion: CNI_VERSION,
    name: s.bridgeName,
    plugins: [
      {
        type: 'bridge',
        bridge: s.bridgeName,
        ipMasq: false,
        isGateway: true,
        forceAddress: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: s.subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
    ],
  };
}

/** `mode = "none"`: the namespace gets only a loopback interface. */
export function loopbackConfList(): CniConfList {
  return { cniVersion: CNI_VERSION, name: 'drover-loopback', plugins: [{ type: 'loopback' }] };
}

/** Finds the list named `name` in `dir` (`*.conflist`, or single-plugin `*.conf` / `*.json`). */
export function operatorConfList(dir: string, name: string): CniConfList {
  let files: string[];
  try {
    files = readdirSync(dir).sort();
  } catch (e) {
    throw new DroverError('NetworkError', `CNI config dir "${dir}" is not readable: ${(e as Error).message}`);
  }
  for (const f of files) {
    if (!/\.(conflist|conf|json)$/.test(f)) continue;
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (raw.name !== name) continue;
    const version = typeof raw.cniVersion === 'string' ? raw.cniVersion : CNI_VERSION;
    if (Array.isArray(raw.plugins)) {
      const plugins = raw.plugins as CniPluginConf[];
      if (plugins.some((p) => typeof p?.type !== 'string'))
        throw new DroverError('NetworkError', `CNI config "${join(dir, f)}": every plugin needs a "type"`);
      return { cniVersion: version, name, plugins };
    }
    if (typeof raw.type !== 'string')
      throw new DroverError('NetworkError', `CNI config "${join(dir, f)}" has neither "plugins" nor "type"`);
    const { cniVersion: _v, name: _n, ...plugin } = raw;
    return { cniVersion: version, name, plugins: [plugin as CniPluginConf] };
  }
  throw new DroverError('NetworkError', `no CNI network named "${name}" in ${dir}`);
}

/** Parses `a.b.c.d/n`; undefined when malformed. */
export function parseCIDR(cidr: string): { base: number; bits: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) return undefined;
  const oct = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (oct.some((o) => o > 255) || bits > 32) return undefined;
  const ip = ((oct[0]! << 24) | (oct[1]! << 16) | (oct[2]! << 8) | oct[3]!) >>> 0;
  return { base: (ip & mask(bits)) >>> 0, bits };
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

function ipv4(ip: string): number | undefined {
  return parseCIDR(`${ip}/32`)?.base;
}

/**
 * Problems of the bridge settings: a malformed subnet, or one overlapping a network the host already has on
 * another interface (the bridge's own address is fine: it is ours from an earlier run).
 */
export function bridgeProblems(
  s: Pick<BridgeSettings, 'bridgeName' | 'subnet'>,
  ifaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string[] {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(s.bridgeName))
    return [`client.bridge_network_name "${s.bridgeName}" is not a valid interface name (1-15 of [A-Za-z0-9_.-])`];
  const net = parseCIDR(s.subnet);
  if (!net || net.bits > 30)
    return [
      `client.bridge_network_subnet "${s.subnet}" is not an IPv4 CIDR with room for addresses (a.b.c.d/n, n ≤ 30)`,
    ];
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(ifaces)) {
    if (name === s.bridgeName) continue;
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || !a.cidr) continue;
      const other = parseCIDR(a.cidr);
      const ip = ipv4(a.address);
      if (!other || ip === undefined) continue;
      const bits = Math.min(net.bits, other.bits);
      if ((net.base & mask(bits)) >>> 0 === (other.base & mask(bits)) >>> 0)
        out.push(
          `client.bridge_network_subnet ${s.subnet} overlaps ${a.cidr} on host interface "${name}": choose a free subnet`,
        );
    }
  }
  return out;
}
