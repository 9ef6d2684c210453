import { describe, expect, it } from 'vitest';
import { nodeVariable, type NodeVariableSource } from './node.js';

const node: NodeVariableSource = {
  ID: 'id-1',
  Name: 'worker-1',
  Datacenter: 'dc1',
  NodeClass: 'gpu',
  NodePool: 'pool-a',
  Attributes: { 'kernel.name': 'linux', 'nomad.region': 'eu' },
  Meta: { rack: 'r7' },
};

describe('nodeVariable', () => {
  it.each([
    ['node.unique.id', 'id-1'],
    ['node.unique.name', 'worker-1'],
    ['node.datacenter', 'dc1'],
    ['node.class', 'gpu'],
    ['node.pool', 'pool-a'],
    ['attr.kernel.name', 'linux'],
    ['meta.rack', 'r7'],
    ['attr.missing', undefined],
    ['meta.missing', undefined],
    ['node.region', undefined],
    ['NOMAD_TASK_NAME', undefined],
  ])('resolves %s as job files name it', (name, want) => {
    expect(nodeVariable(name, node)).toBe(want);
  });

  it('answers undefined for attributes and meta of a node that has none', () => {
    expect(nodeVariable('attr.kernel.name', { ...node, Attributes: null })).toBeUndefined();
    expect(nodeVariable('meta.rack', { ...node, Meta: undefined })).toBeUndefined();
  });
});
