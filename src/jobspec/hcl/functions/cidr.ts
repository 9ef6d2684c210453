/** cidrhost, cidrnetmask, cidrsubnet, cidrsubnets for IPv4 and IPv6 (addresses as BigInt). */
import { isIPv4, isIPv6 } from 'node:net';
import { FunctionError, argInt, argString, fn, type FunctionTable } from '../function-types.js';
import { T, list, str } from '../values.js';

interface Prefix {
  addr: bigint;
  bits: number;
  /** 32 or 128 */
  width: number;
}

function parseAddr(s: string): { addr: bigint; width: number } | null {
  if (isIPv4(s)) return { addr: s.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n), width: 32 };
  if (!isIPv6(s)) return null;
  let text = s;
  let tail: bigint[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const a = parseAddr(v4[1]!)!.addr;
    tail = [a >> 16n, a & 0xffffn];
    text = text.slice(0, -v4[1]!.length) + '0:0';
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const hs = head ? head.split(':') : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? hs : [...hs, ...Array(8 - hs.length - rs.length).fill('0'), ...rs];
  let addr = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  if (tail.length) addr = ((addr >> 32n) << 32n) | (tail[0]! << 16n) | tail[1]!;
  return { addr, width: 128 };
}

function parsePrefix(s: string): Prefix {
  const [a, b] = s.split('/');
  const ip = a ? parseAddr(a) : null;
  const bits = Number(b);
  if (!ip || b === undefined || !/^\d+$/.test(b) || bits > ip.width)
    throw new FunctionError(`invalid CIDR address: ${s}`, 0);
  const mask = maskOf(bits, ip.width);
  return { addr: ip.addr & mask, bits, width: ip.width };
}

function maskOf(bits: number, width: number): bigint {
  const all = (1n << BigInt(width)) - 1n;
  return all ^ ((1n << BigInt(width - bits)) - 1n);
}

function formatAddr(a: bigint, width: number): string {
  if (width === 32) return [24n, 16n, 8n, 0n].map((s) => String((a >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((a >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Collapse the longest run of zero groups (length >= 2), as Go's net.IP.String does.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function host(p: Prefix, n: number): string {
  const size = 1n << BigInt(p.width - p.bits);
  let num = BigInt(n);
  if (num < 0n) num += size;
  if (num < 0n || num >= size)
    throw new FunctionError(`prefix of ${p.bits} bits cannot accommodate a host numbered ${n}`, 1);
  return formatAddr(p.addr + num, p.width);
}

function subnet(p: Prefix, newbits: number, netnum: number): Prefix {
  const bits = p.bits + newbits;
  if (newbits < 0 || bits > p.width)
    throw new FunctionError(`insufficient address space to extend prefix of ${p.bits} by ${newbits}`, 1);
  if (netnum < 0 || BigInt(netnum) >= 1n << BigInt(newbits))
    throw new FunctionError(`prefix extension of ${newbits} does not accommodate a subnet numbered ${netnum}`, 2);
  return { addr: p.addr | (BigInt(netnum) << BigInt(p.width - bits)), bits, width: p.width };
}

export const cidrFunctions: FunctionTable = {
  cidrhost: fn(['prefix', 'hostnum'], (a) => str(host(parsePrefix(argString(a, 0)), argInt(a, 1)))),
  cidrnetmask: fn(['prefix'], (a) => {
    const p = parsePrefix(argString(a, 0));
    if (p.width !== 32) throw new FunctionError('only IPv4 networks have a netmask', 0);
    return str(formatAddr(maskOf(p.bits, 32), 32));
  }),
  cidrsubnet: fn(['prefix', 'newbits', 'netnum'], (a) => {
    const s = subnet(parsePrefix(argString(a, 0)), argInt(a, 1), argInt(a, 2));
    return str(`${formatAddr(s.addr, s.width)}/${s.bits}`);
  }),
  cidrsubnets: fn(['prefix', '...newbits'], (a) => {
    const p = parsePrefix(argString(a, 0));
    const out: string[] = [];
    let next = p.addr;
    for (let i = 1; i < a.length; i++) {
      const nb = argInt(a, i);
      const bits = p.bits + nb;
      if (nb < 1 || bits > p.width)
        throw new FunctionError(
          `would extend prefix to ${bits} bits, which is too long for an IPv${p.width === 32 ? 4 : 6} address`,
          i,
        );
      const step = 1n << BigInt(p.width - bits);
      if (next % step !== 0n) next = (next / step + 1n) * step;
      if (next + step > p.addr + (1n << BigInt(p.width - p.bits)))
        throw new FunctionError(`not enough remaining address space for a subnet with a prefix of ${bits} bits`, i);
      out.push(`${formatAddr(next, p.width)}/${bits}`);
      next += step;
    }
    return list(out.map(str), T.string);
  }),
};
