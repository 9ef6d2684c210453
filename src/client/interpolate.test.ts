import { describe, expect, it } from 'vitest';
import { interpolateDeep, interpolateString } from './interpolate.js';

const ctx = {
  env: { NOMAD_PORT_http: '8080', FOO: 'bar' },
  region: 'global',
  node: {
    ID: 'n-1',
    Name: 'node-1',
    Datacenter: 'dc1',
    NodeClass: 'web',
    NodePool: 'default',
    Attributes: { 'kernel.name': 'linux' },
    Meta: { rack: 'r1' },
  },
};

describe('runtime interpolation', () => {
  it('resolves env, node, attr and meta variables and leaves unknown ones as written', () => {
    expect(
      interpolateString(
        '${NOMAD_PORT_http} ${env.FOO} ${node.unique.id} ${node.unique.name} ${node.datacenter} ${node.region} ${node.class} ${node.pool} ${attr.kernel.name} ${meta.rack} ${nope}',
        ctx,
      ),
    ).toBe('8080 bar n-1 node-1 dc1 global web default linux r1 ${nope}');
  });

  it('interpolates through maps and lists of a driver config', () => {
    expect(
      interpolateDeep(
        { args: ['-p', '${NOMAD_PORT_http}'], nested: { '${FOO}': [{ x: '${meta.rack}' }] }, n: 3, b: true },
        ctx,
      ),
    ).toEqual({
      args: ['-p', '8080'],
      nested: { bar: [{ x: 'r1' }] },
      n: 3,
      b: true,
    });
  });
});
