/**
 * Nomad's two switches on allocation lists (`/v1/allocations`, `/v1/job/:id/allocations`): `resources`
 * (default false) adds each allocation's AllocatedResources, `task_states` (default true) can drop its
 * TaskStates. The server answers full stubs; the shape a request asked for is cut here, once per stub and
 * shape: stubs are frozen and rebuilt only when their allocation changes, so a projected stub (and a
 * projected frozen list) is kept beside the one it came from, and http/reply.ts still encodes each once.
 */
import type { AllocListStub } from '../structs/index.js';
import { boolParam } from './query.js';

export interface AllocStubShape {
  resources: boolean;
  taskStates: boolean;
}

/** The shape a query asks for, with Nomad's defaults. */
export function allocStubShape(q: URLSearchParams): AllocStubShape {
  return {
    resources: boolParam(q, 'resources'),
    taskStates: q.get('task_states') === null ? true : boolParam(q, 'task_states'),
  };
}

const FULL = 3;
/** Per shape (bit 1: resources, bit 2: task states) but the full one, the projection of each stub or list. */
const stubCache: WeakMap<AllocListStub, AllocListStub>[] = [new WeakMap(), new WeakMap(), new WeakMap()];
const listCache: WeakMap<readonly AllocListStub[], AllocListStub[]>[] = [new WeakMap(), new WeakMap(), new WeakMap()];

function shapeKey(s: AllocStubShape): number {
  return (s.resources ? 1 : 0) | (s.taskStates ? 2 : 0);
}

function project(stub: AllocListStub, key: number): AllocListStub {
  const out: AllocListStub = { ...stub };
  if ((key & 1) === 0) out.AllocatedResources = null;
  if ((key & 2) === 0) out.TaskStates = null;
  return out;
}

function shapeStub(stub: AllocListStub, key: number): AllocListStub {
  if (!Object.isFrozen(stub)) return project(stub, key);
  const cache = stubCache[key]!; // key is 0..2: the full shape (3) has no cache and never gets here
  let out = cache.get(stub);
  if (out === undefined) cache.set(stub, (out = Object.freeze(project(stub, key))));
  return out;
}

/** The list in the requested shape; a frozen list gives a frozen list, the same one on every call. */
export function shapeAllocStubs(list: readonly AllocListStub[], shape: AllocStubShape): AllocListStub[] {
  const key = shapeKey(shape);
  if (key === FULL) return list as AllocListStub[];
  if (!Object.isFrozen(list)) return list.map((s) => shapeStub(s, key));
  const cache = listCache[key]!;
  let out = cache.get(list);
  if (out === undefined) cache.set(list, (out = Object.freeze(list.map((s) => shapeStub(s, key))) as AllocListStub[]));
  return out;
}
