import { describe, expect, it } from 'vitest';
import { groupNetworkProblems } from './network-mode.js';

const problems = (g: Record<string, unknown>) => {
  const out: string[] = [];
  groupNetworkProblems(g, 'TaskGroups[0]', (path, message) => out.push(`${path}: ${message}`));
  return out;
};
const withPort = (mode: string, driver: string) => ({
  Networks: [{ Mode: mode, DynamicPorts: [{ Label: 'http', Value: 0, To: 8080 }] }],
  Tasks: [{ Name: 't', Driver: driver }],
});

describe('group network modes and port mappings', () => {
  it('refuses `to` in host mode for drivers that cannot map ports, naming the port and the fix', () => {
    expect(problems(withPort('host', 'raw_exec'))).toEqual([
      'TaskGroups[0].Networks[0].DynamicPorts[0].To: port "http" maps to 8080, but the group\'s network mode is "host": `to` needs mode = "bridge" (or docker tasks only)',
    ]);
  });

  it('accepts `to` in bridge mode, and in host mode when docker maps the ports itself', () => {
    expect(problems(withPort('bridge', 'raw_exec'))).toEqual([]);
    expect(problems(withPort('', 'docker'))).toEqual([]);
  });

  it('refuses an unknown mode and a second network block', () => {
    expect(problems({ Networks: [{ Mode: 'overlay' }], Tasks: [] })[0]).toContain('unknown network mode "overlay"');
    expect(problems({ Networks: [{ Mode: 'cni/mine' }, { Mode: 'host' }], Tasks: [] })[0]).toContain(
      'only one network block is allowed per group',
    );
  });
});
