/**
 * Port mapping, masquerade and forwarding rules of bridge-mode allocations, written by the client itself as one
 * `iptables-restore --noflush` transaction per allocation instead of the CNI `portmap` and `firewall` plugins
 * (and the bridge plugin's `ipMasq`). Those plugins run 40–60 `iptables` processes per allocation, each taking
 * the xtables lock and listing the nat table again; one transaction is one process, and it applies all or nothing.
 *
 * Same NAT semantics as portmap with `snat = true`: a host port answers on every local address (also from the
 * host's own 127.0.0.1, through `route_localnet` on the bridge), traffic from the bridge's subnet or from
 * 127.0.0.1 to a mapped port is masqueraded (hairpin), and the allocation's traffic leaving the subnet is
 * masqueraded as the bridge plugin's `ipMasq` does.
 *
 *   standing chains (created once, atomically, shared by every Drover agent of the host, never removed):
 *     nat    PREROUTING, OUTPUT (dst LOCAL) ─► DROVER-HOSTPORT-DNAT ─► per allocation DRV-DN-<h>
 *            POSTROUTING ─► DROVER-POSTROUTING: marked 0x2000 ─► MASQUERADE; per allocation -s IP ─► DRV-MQ-<h>
 *            DROVER-SETMARK: mark 0x2000 (hairpin and localhost traffic to a mapped port)
 *     filter FORWARD (first) ─► DROVER-FORWARD: per allocation ACCEPT to (established) and from its address
 *   add:     one transaction: the allocation's own chains, their rules, the jumps into the standing chains
 *   remove:  `iptables-save`, then one transaction deleting exactly the lines of the allocation that exist
 *            (tagged with the comment `drover-<alloc>` or in its own chains): safe to repeat, never leaks
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { DroverError } from '../../errors/index.js';

export interface HostPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
}

export interface NatSpec {
  allocID: string;
  /** The allocation's address in the bridge subnet. */
  ip: string;
  /** The bridge subnet (CIDR). */
  subnet: string;
  ports: HostPortMapping[];
}

/** Runs a command with `input` on stdin; resolves with stdout. */
export type NatRunner = (cmd: string, args: string[], input?: string) => Promise<string>;

const MASQ_MARK = '0x2000/0x2000';
const HOSTPORT_DNAT = 'DROVER-HOSTPORT-DNAT';
const POSTROUTING = 'DROVER-POSTROUTING';
const SETMARK = 'DROVER-SETMARK';
const FORWARD = 'DROVER-FORWARD';

/** The standing chains and their jumps; refused as a whole (atomically) when another agent made them first. */
export const BASE_RULES = [
  '*nat',
  `-N ${HOSTPORT_DNAT}`,
  `-N ${POSTROUTING}`,
  `-N ${SETMARK}`,
  `-A ${SETMARK} -j MARK --set-xmark ${MASQ_MARK}`,
  `-A ${POSTROUTING} -m mark --mark ${MASQ_MARK} -j MASQUERADE`,
  `-A PREROUTING -m addrtype --dst-type LOCAL -j ${HOSTPORT_DNAT}`,
  `-A OUTPUT -m addrtype --dst-type LOCAL -j ${HOSTPORT_DNAT}`,
  `-A POSTROUTING -j ${POSTROUTING}`,
  'COMMIT',
  '*filter',
  `-N ${FORWARD}`,
  `-I FORWARD 1 -j ${FORWARD}`,
  'COMMIT',
  '',
].join('\n');

/** The jumps from the built-in chains into the standing ones, as `[table, built-in chain, rule to add]`. */
const BASE_JUMPS: Array<[string, string, string]> = [
  ['nat', 'PREROUTING', `-A PREROUTING -m addrtype --dst-type LOCAL -j ${HOSTPORT_DNAT}`],
  ['nat', 'OUTPUT', `-A OUTPUT -m addrtype --dst-type LOCAL -j ${HOSTPORT_DNAT}`],
  ['nat', 'POSTROUTING', `-A POSTROUTING -j ${POSTROUTING}`],
  ['filter', 'FORWARD', `-I FORWARD 1 -j ${FORWARD}`],
];

/**
 * The restore input that puts back the jumps missing from `iptables-save` output (the built-in chains flushed
 * by an operator or a firewall reload while the standing chains stayed), or '' when all are there.
 */
export function missingJumps(save: string): string {
  const lines = save.split('\n');
  const has = (chain: string, target: string) =>
    lines.some((l) => l.startsWith(`-A ${chain} `) && l.endsWith(`-j ${target}`));
  const out: string[] = [];
  for (const table of ['nat', 'filter']) {
    const missing = BASE_JUMPS.filter(
      ([t, chain, rule]) => t === table && !has(chain, rule.slice(rule.lastIndexOf('-j ') + 3)),
    );
    if (missing.length > 0) out.push(`*${table}`, ...missing.map(([, , rule]) => rule), 'COMMIT');
  }
  return out.length > 0 ? [...out, ''].join('\n') : '';
}

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** The allocation's own chain names (28 characters at most, as iptables requires). */
export function natChains(allocID: string): { dnat: string; masq: string; tag: string } {
  const h = createHash('sha256').update(allocID).digest('hex').slice(0, 16);
  return { dnat: `DRV-DN-${h}`, masq: `DRV-MQ-${h}`, tag: `drover-${allocID}` };
}

/** The iptables-restore input that adds one allocation's rules. */
export function natAddRules(spec: NatSpec): string {
  if (!IPV4.test(spec.ip)) throw new DroverError('NetworkError', `allocation address "${spec.ip}" is not IPv4`);
  if (!/^[A-Za-z0-9-]+$/.test(spec.allocID))
    throw new DroverError('NetworkError', `allocation id "${spec.allocID}" cannot name iptables rules`);
  const { dnat, masq, tag } = natChains(spec.allocID);
  const c = `-m comment --comment ${tag}`;
  const nat = [
    '*nat',
    `:${masq} - [0:0]`,
    `-A ${masq} -d ${spec.subnet} -j RETURN`,
    `-A ${masq} -d 224.0.0.0/4 -j RETURN`,
    `-A ${masq} -j MASQUERADE`,
    `-A ${POSTROUTING} -s ${spec.ip}/32 ${c} -j ${masq}`,
  ];
  if (spec.ports.length > 0) {
    nat.push(`:${dnat} - [0:0]`);
    for (const p of spec.ports) {
      if (!['tcp', 'udp', 'sctp'].includes(p.protocol))
        throw new DroverError('NetworkError', `port mapping protocol "${p.protocol}" is not tcp, udp or sctp`);
      const m = `-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort}`;
      nat.push(
        `-A ${dnat} -s ${spec.subnet} ${m} -j ${SETMARK}`,
        `-A ${dnat} -s 127.0.0.1/32 ${m} -j ${SETMARK}`,
        `-A ${dnat} ${m} -j DNAT --to-destination ${spec.ip}:${p.containerPort}`,
      );
    }
    nat.push(`-A ${HOSTPORT_DNAT} ${c} -j ${dnat}`);
  }
  nat.push('COMMIT');
  const filter = [
    '*filter',
    `-A ${FORWARD} -d ${spec.ip}/32 -m conntrack --ctstate RELATED,ESTABLISHED ${c} -j ACCEPT`,
    `-A ${FORWARD} -s ${spec.ip}/32 ${c} -j ACCEPT`,
    'COMMIT',
  ];
  return [...nat, ...filter, ''].join('\n');
}

/**
 * The iptables-restore input that deletes every rule and chain of the allocation found in `save` (the output of
 * `iptables-save`), or undefined when nothing of it is there.
 */
export function natRemoveRules(save: string, allocID: string): string | undefined {
  const { dnat, masq, tag } = natChains(allocID);
  const own = new Set([dnat, masq]);
  const tables = new Map<string, { del: string[]; chains: string[] }>();
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      continue;
    }
    if (!table) continue;
    const t = tables.get(table) ?? { del: [], chains: [] };
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (own.has(name)) t.chains.push(name);
    } else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      // Rules inside the allocation's own chains go with the chain (-F); only jumps and tagged rules are deleted.
      if (!own.has(chain) && line.split(' ').includes(tag)) t.del.push(`-D ${line.slice(3)}`);
    }
    tables.set(table, t);
  }
  const out: string[] = [];
  for (const [name, t] of tables) {
    if (t.del.length === 0 && t.chains.length === 0) continue;
    out.push(`*${name}`, ...t.del, ...t.chains.flatMap((ch) => [`-F ${ch}`, `-X ${ch}`]), 'COMMIT');
  }
  return out.length > 0 ? [...out, ''].join('\n') : undefined;
}

/** Runs `cmd` with `input` on its stdin; rejects with the command line and its stderr when it fails. */
export const defaultRunner: NatRunner = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: 15_000, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, out, se) => {
        if (err) reject(new DroverError('NetworkError', `${cmd} ${args.join(' ')}: ${se.trim() || err.message}`));
        else resolve(out);
      },
    );
    // iptables-restore may exit before reading its input (a lock it could not take, a bad line): the write is then
    // EPIPE, which must not be an unhandled 'error' that ends the agent; the exit callback above reports the failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });

/** The host's NAT and forwarding rules of bridge-mode allocations. */
export class HostNat {
  private base: Promise<void> | undefined;

  constructor(private readonly runner: NatRunner = defaultRunner) {}

  private restore(rules: string): Promise<string> {
    return this.runner('iptables-restore', ['--noflush', '--wait', '10'], rules);
  }

  /** Creates the standing chains unless they exist (another agent may be creating them at the same moment). */
  private ensureBase(): Promise<void> {
    this.base ??= (async () => {
      const save = await this.runner('iptables-save', []);
      if (save.includes(`:${HOSTPORT_DNAT} `) && save.includes(`:${FORWARD} `)) {
        // The chains are there; their jumps may not be (built-in chains flushed since): put back what is missing.
        const jumps = missingJumps(save);
        if (jumps) await this.restore(jumps);
        return;
      }
      try {
        await this.restore(BASE_RULES);
      } catch (e) {
        // Refused as a whole: fine when someone else made them meanwhile.
        const again = await this.runner('iptables-save', []);
        if (!again.includes(`:${HOSTPORT_DNAT} `) || !again.includes(`:${FORWARD} `)) throw e;
      }
    })().catch((e: unknown) => {
      this.base = undefined;
      throw e;
    });
    return this.base;
  }

  /**
   * Adds the allocation's rules in one transaction and lets the bridge route 127.0.0.1 (portmap's
   * `route_localnet`, so a mapped port answers on the host's loopback).
   */
  async add(spec: NatSpec, bridge: string): Promise<void> {
    const rules = natAddRules(spec);
    await this.ensureBase();
    try {
      await this.restore(rules);
    } catch (e) {
      // The standing chains may have been flushed away by an operator since: make them again, once.
      this.base = undefined;
      await this.ensureBase();
      await this.restore(rules).catch(() => Promise.reject(e));
    }
    if (spec.ports.length > 0 && /^[A-Za-z0-9_.-]{1,15}$/.test(bridge))
      writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
  }

  /** Deletes whatever exists of the allocation's rules. */
  async remove(allocID: string): Promise<void> {
    const rules = natRemoveRules(await this.runner('iptables-save', []), allocID);
    if (rules) await this.restore(rules);
  }
}
