import { describe, expect, it } from 'vitest';
import { allocListStub, newAllocation, type Allocation, type AllocListStub } from '../structs/index.js';
import { allocStubShape, shapeAllocStubs } from './alloc-stubs.js';

function stub(id: string): AllocListStub {
  const a = newAllocation(
    {
      ID: id,
      EvalID: 'e',
      Name: 'j.g[0]',
      NodeID: 'n',
      NodeName: 'n',
      Job: { ID: 'j', Namespace: 'default', Type: 'service', Version: 0 } as Allocation['Job'],
      TaskGroup: 'g',
      AllocatedResources: {
        Tasks: {},
        Shared: { DiskMB: 10, Networks: [], Ports: [] },
      } as unknown as Allocation['AllocatedResources'],
    },
    0,
    { TaskStates: { t: { State: 'running' } as never } },
  );
  return Object.freeze(allocListStub(a));
}

const q = (s: string) => new URLSearchParams(s);

describe('allocation list shapes', () => {
  it('defaults to Nomad’s shape: task states in, allocated resources out', () => {
    const [s] = shapeAllocStubs([stub('a')], allocStubShape(q('')));
    expect(s!.TaskStates).not.toBeNull();
    expect(s!.AllocatedResources).toBeNull();
  });

  it('adds allocated resources with resources=true and drops task states with task_states=false', () => {
    const [s] = shapeAllocStubs([stub('a')], allocStubShape(q('resources=true&task_states=false')));
    expect(s!.AllocatedResources).toMatchObject({ Shared: { DiskMB: 10 } });
    expect(s!.TaskStates).toBeNull();
  });

  it('returns the same frozen list for the same frozen list and shape, so its bytes are encoded once', () => {
    const list = Object.freeze(Array.from({ length: 10 }, (_, i) => stub(`a${i}`))) as AllocListStub[];
    const shape = allocStubShape(q('task_states=false'));
    const one = shapeAllocStubs(list, shape);
    expect(shapeAllocStubs(list, shape)).toBe(one);
    expect(Object.isFrozen(one)).toBe(true);
    expect(Object.isFrozen(one[0])).toBe(true);
    // Another list holding the same stubs shares the projected stubs.
    expect(shapeAllocStubs([...list], shape)[3]).toBe(one[3]);
    // The full shape is the server's list itself.
    expect(shapeAllocStubs(list, allocStubShape(q('resources=1')))).toBe(list);
  });

  it('rejects a value that is not a bool, naming the parameter', () => {
    expect(() => allocStubShape(q('resources=maybe'))).toThrow(/resources/);
    expect(() => allocStubShape(q('task_states=no'))).toThrow(/task_states/);
  });
});
