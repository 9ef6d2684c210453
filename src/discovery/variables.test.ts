import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isDroverError } from '../errors/index.js';
import {
  applyVariableDelete,
  applyVariableWrite,
  listVariables,
  parseCas,
  taskMayReadVariable,
  variableMetadata,
  variablePathProblems,
  variableProblems,
  type Variable,
} from './variables.js';

const put = (path: string, items: Record<string, string> = { k: 'v' }, ns = 'default') => ({
  Namespace: ns,
  Path: path,
  Items: items,
});

function stored(path: string, index: number, ns = 'default'): Variable {
  return {
    Namespace: ns,
    Path: path,
    Items: { k: String(index) },
    CreateIndex: index,
    ModifyIndex: index,
    CreateTime: index * 10,
    ModifyTime: index * 10,
  };
}

describe('variable paths', () => {
  it('accepts Nomad paths and the special nomad/jobs tree', () => {
    for (const p of [
      'app/config',
      'a',
      'x_y-z~1/2',
      'nomad/jobs',
      'nomad/jobs/web/front/srv/extra',
      'nomad/job-templates/t1',
      'a'.repeat(128),
    ]) {
      expect(variablePathProblems(p), p).toEqual([]);
    }
  });

  it('refuses bad characters, length, and the reserved nomad paths with Nomad messages', () => {
    expect(variablePathProblems('')[0]?.message).toBe('variable requires path');
    expect(variablePathProblems('a b')[0]?.message).toMatch(/invalid path/);
    expect(variablePathProblems('a.b')[0]?.message).toMatch(/invalid path/);
    expect(variablePathProblems('a'.repeat(129))[0]?.message).toMatch(/invalid path/);
    expect(variablePathProblems('nomad')[0]?.message).toMatch(/reserved top-level directory/);
    expect(variablePathProblems('nomad/other')[0]?.message).toMatch(/only paths at "nomad\/jobs"/);
    expect(variablePathProblems('nomad/job-templates')[0]?.message).toMatch(/one level below/);
    expect(variablePathProblems('nomad/job-templates/a/b')[0]?.message).toMatch(/one level below/);
  });

  it('accepts exactly the paths of allowed characters up to 128 long outside nomad/ (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 140 }), (p) => {
        const ok = variablePathProblems(p).length === 0;
        const expected = /^[a-zA-Z0-9\-_~/]{1,128}$/.test(p) && p.split('/')[0] !== 'nomad';
        return p.split('/')[0] === 'nomad' || ok === expected;
      }),
    );
  });

  it('refuses empty items, the wildcard namespace and oversized variables, listing every problem', () => {
    const problems = variableProblems({ Namespace: '*', Path: 'nomad', Items: {} }).map((p) => p.path);
    expect(problems).toEqual(['Namespace', 'Path', 'Items']);
    expect(variableProblems(put('big', { k: 'x'.repeat(64 * 1024) }))[0]?.message).toMatch(/64KiB/);
  });
});

describe('check-and-set', () => {
  it('creates with index and time, and keeps creation fields on update', () => {
    const created = applyVariableWrite(undefined, put('app'), { index: 5, now: 100 });
    expect(created).toEqual({
      ok: true,
      variable: {
        Namespace: 'default',
        Path: 'app',
        Items: { k: 'v' },
        CreateIndex: 5,
        ModifyIndex: 5,
        CreateTime: 100,
        ModifyTime: 100,
      },
    });
    const updated = applyVariableWrite(stored('app', 5), put('app', { k: 'w' }), { index: 9, now: 200 });
    expect(updated).toMatchObject({
      ok: true,
      variable: { Items: { k: 'w' }, CreateIndex: 5, ModifyIndex: 9, CreateTime: 50, ModifyTime: 200 },
    });
  });

  it('treats cas=0 as "must not exist" and answers the current variable on conflict', () => {
    expect(applyVariableWrite(undefined, put('app'), { cas: 0, index: 1, now: 1 }).ok).toBe(true);
    const current = stored('app', 3);
    expect(applyVariableWrite(current, put('app'), { cas: 0, index: 4, now: 1 })).toEqual({
      ok: false,
      conflict: current,
    });
  });

  it('writes only when cas matches the modify index', () => {
    const current = stored('app', 3);
    expect(applyVariableWrite(current, put('app'), { cas: 3, index: 4, now: 1 }).ok).toBe(true);
    expect(applyVariableWrite(current, put('app'), { cas: 2, index: 4, now: 1 })).toEqual({
      ok: false,
      conflict: current,
    });
    expect(applyVariableWrite(undefined, put('app'), { cas: 7, index: 4, now: 1 })).toMatchObject({
      ok: false,
      conflict: { Path: 'app', ModifyIndex: 0, Items: {} },
    });
  });

  it('deletes with the same cas rules', () => {
    const current = stored('app', 3);
    expect(applyVariableDelete(current, current, {})).toEqual({ ok: true, variable: null });
    expect(applyVariableDelete(current, current, { cas: 3 }).ok).toBe(true);
    expect(applyVariableDelete(current, current, { cas: 1 })).toEqual({ ok: false, conflict: current });
    expect(applyVariableDelete(undefined, current, { cas: 0 }).ok).toBe(true);
    expect(applyVariableDelete(undefined, current, { cas: 2 }).ok).toBe(false);
  });

  it('validates before anything else', () => {
    try {
      applyVariableWrite(undefined, put('nomad/x'), { index: 1, now: 1 });
      expect.unreachable();
    } catch (e) {
      expect(isDroverError(e, 'BadRequest')).toBe(true);
    }
  });

  it('parses ?cas=', () => {
    expect(parseCas(null)).toBeUndefined();
    expect(parseCas('')).toBeUndefined();
    expect(parseCas('0')).toBe(0);
    expect(parseCas('12')).toBe(12);
    expect(() => parseCas('-1')).toThrow(/invalid cas/);
    expect(() => parseCas('x')).toThrow(/invalid cas/);
  });

  it('accepts a sequence of writes exactly when each cas names the index the previous write left (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(15), { maxLength: 8 }), (cases) => {
        let current: Variable = stored('p', 3);
        return cases.every((cas, i) => {
          const before = current.ModifyIndex;
          const r = applyVariableWrite(current, put('p', { w: String(i) }), { cas, index: 20 + i, now: 0 });
          if (r.ok) current = r.variable!;
          return r.ok === (cas === before) && (r.ok || r.conflict.ModifyIndex === before);
        });
      }),
    );
  });
});

describe('listVariables', () => {
  const vars = [stored('b/2', 2), stored('a/1', 1), stored('b/1', 3), stored('a/1', 4, 'prod'), stored('c', 5)];

  it('lists metadata without items, sorted, filtered by namespace and prefix', () => {
    const { items, nextToken } = listVariables(vars, { namespace: 'default', prefix: 'b/' });
    expect(items.map((v) => v.Path)).toEqual(['b/1', 'b/2']);
    expect(items[0]).not.toHaveProperty('Items');
    expect(items[0]).toEqual(variableMetadata(stored('b/1', 3)));
    expect(nextToken).toBe('');
    expect(listVariables(vars, { namespace: '*' }).items.map((v) => `${v.Namespace}:${v.Path}`)).toEqual([
      'default:a/1',
      'default:b/1',
      'default:b/2',
      'default:c',
      'prod:a/1',
    ]);
  });

  it('pages with per_page and next_token', () => {
    const p1 = listVariables(vars, { namespace: 'default', perPage: 2 });
    expect(p1.items.map((v) => v.Path)).toEqual(['a/1', 'b/1']);
    expect(p1.nextToken).toBe('default.b/2');
    const p2 = listVariables(vars, { namespace: 'default', perPage: 2, nextToken: p1.nextToken });
    expect(p2.items.map((v) => v.Path)).toEqual(['b/2', 'c']);
    expect(p2.nextToken).toBe('');
  });

  it('applies a per-variable access filter', () => {
    expect(
      listVariables(vars, { namespace: 'default', allow: (v) => v.Path !== 'c' }).items.map((v) => v.Path),
    ).toEqual(['a/1', 'b/1', 'b/2']);
  });
});

describe('taskMayReadVariable', () => {
  const id = { Namespace: 'default', JobID: 'web', Group: 'front', Task: 'srv' };

  it("reads exactly its own job's paths and nomad/jobs in its namespace", () => {
    for (const p of ['nomad/jobs', 'nomad/jobs/web', 'nomad/jobs/web/front', 'nomad/jobs/web/front/srv'])
      expect(taskMayReadVariable(id, { Namespace: 'default', Path: p }), p).toBe(true);
    for (const p of [
      'nomad/jobs/api',
      'nomad/jobs/web/back',
      'nomad/jobs/web/front/other',
      'nomad/jobs/webx',
      'nomad/jobs/web/front/srv/deeper',
      'app/config',
    ]) {
      expect(taskMayReadVariable(id, { Namespace: 'default', Path: p }), p).toBe(false);
    }
    expect(taskMayReadVariable(id, { Namespace: 'prod', Path: 'nomad/jobs/web' })).toBe(false);
  });

  it('reads more through policy paths, and its whole namespace only when ACLs are off', () => {
    expect(taskMayReadVariable(id, { Namespace: 'default', Path: 'app/config' }, { extraPaths: ['app/*'] })).toBe(true);
    expect(taskMayReadVariable(id, { Namespace: 'default', Path: 'app/config' }, { aclsDisabled: true })).toBe(true);
    expect(taskMayReadVariable(id, { Namespace: 'prod', Path: 'app/config' }, { aclsDisabled: true })).toBe(false);
  });
});
