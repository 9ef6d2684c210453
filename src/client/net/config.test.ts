import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bridgeConfList, bridgeProblems, operatorConfList, parseCIDR } from './config.js';

const iface = (address: string, cidr: string) => ({
  address,
  cidr,
  family: 'IPv4' as const,
  netmask: '',
  mac: '00:00:00:00:00:00',
  internal: false,
});

describe('bridge network settings', () => {
  it('builds the bridge plugin with host-local IPAM and no masquerade of its own (the client writes NAT rules)', () => {
    const list = bridgeConfList({ bridgeName: 'drnet0', subnet: '172.26.80.0/24', cniPath: [], cniConfigDir: '' });
    expect(list.name).toBe('drnet0');
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge']);
    expect(list.plugins[0]).toMatchObject({
      bridge: 'drnet0',
      ipMasq: false,
      isGateway: true,
      hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '172.26.80.0/24' }]] },
    });
  });

  it('refuses a subnet that overlaps a network of another host interface, naming both', () => {
    const problems = bridgeProblems(
      { bridgeName: 'drnet0', subnet: '10.1.0.0/16' },
      { eth0: [iface('10.1.2.3', '10.1.2.3/24')] },
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('10.1.0.0/16 overlaps 10.1.2.3/24 on host interface "eth0"');
  });

  it('accepts a free subnet, and the bridge keeping its own address from an earlier run', () => {
    expect(
      bridgeProblems(
        { bridgeName: 'drnet0', subnet: '172.26.80.0/24' },
        { eth0: [iface('10.1.2.3', '10.1.2.3/24')], drnet0: [iface('172.26.80.1', '172.26.80.1/24')] },
      ),
    ).toEqual([]);
  });

  it('refuses a malformed subnet and a bad bridge name', () => {
    expect(bridgeProblems({ bridgeName: 'drnet0', subnet: '172.26.80.0' }, {})[0]).toContain('is not an IPv4 CIDR');
    expect(bridgeProblems({ bridgeName: 'a bridge', subnet: '172.26.80.0/24' }, {})[0]).toContain(
      'is not a valid interface name',
    );
  });

  it('parses CIDRs to their network base', () => {
    expect(parseCIDR('172.26.64.7/20')).toEqual({ base: 172 * 2 ** 24 + 26 * 2 ** 16 + 64 * 2 ** 8, bits: 20 });
    expect(parseCIDR('300.1.1.1/8')).toBeUndefined();
  });
});

describe('operator CNI network lists', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'drover-cni-conf-'));
    dirs.push(d);
    return d;
  };

  it('finds a conflist by its name, and wraps a single-plugin conf into a list', () => {
    const d = dir();
    writeFileSync(
      join(d, '10-mine.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'mine', plugins: [{ type: 'loopback' }] }),
    );
    writeFileSync(join(d, '20-single.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'bridge' }));
    expect(operatorConfList(d, 'mine')).toEqual({ cniVersion: '1.0.0', name: 'mine', plugins: [{ type: 'loopback' }] });
    expect(operatorConfList(d, 'single')).toEqual({
      cniVersion: '0.4.0',
      name: 'single',
      plugins: [{ type: 'bridge' }],
    });
  });

  it('names the network and the directory when no list matches', () => {
    const d = dir();
    expect(() => operatorConfList(d, 'absent')).toThrow(`no CNI network named "absent" in ${d}`);
  });
});
