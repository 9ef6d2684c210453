/** Constraint operators against Nomad's truth tables (../shared/conformance/nomad/scheduler-constraint-cases.json). */
import { describe, expect, it } from 'vitest';
import { HAS_CONFORMANCE_DATA, readConformanceJson } from '../../testing/conformance-data.js';
import { describeConformance } from '../../testing/describe-conformance.js';
import { nomadMock } from '../../testing/nomad-mock.js';
import {
  checkConstraint,
  checkConstraintValues,
  constraintEscapesClass,
  datacenterMatches,
  resolveTarget,
} from './constraint.js';
import { checkSemverMatch, checkVersionMatch } from './version.js';

interface Case {
  op?: string;
  l: string | number | null;
  r: string | null;
  result: boolean;
}
const cases: Record<string, Case[]> = HAS_CONFORMANCE_DATA
  ? readConformanceJson('scheduler-constraint-cases.json')
  : {};

const show = (v: unknown) => (v === null ? 'missing' : JSON.stringify(v));

describeConformance('constraint operators follow Nomad truth tables', () => {
  for (const c of cases['checkConstraint'] ?? []) {
    it(`${show(c.l)} ${c.op} ${show(c.r)} is ${c.result}`, () => {
      expect(checkConstraintValues(c.op!, String(c.l ?? ''), c.l !== null, String(c.r ?? ''), c.r !== null)).toBe(
        c.result,
      );
    });
  }
  for (const c of cases['version'] ?? []) {
    it(`version: ${show(c.l)} against "${c.r}" is ${c.result}`, () => {
      expect(checkVersionMatch(String(c.l), c.r!)).toBe(c.result);
    });
  }
  for (const c of cases['semver'] ?? []) {
    it(`semver: ${show(c.l)} against "${c.r}" is ${c.result}`, () => {
      expect(checkSemverMatch(String(c.l), c.r!)).toBe(c.result);
    });
  }
  for (const c of cases['regexp'] ?? []) {
    it(`regexp: ${show(c.l)} against "${c.r}" is ${c.result}`, () => {
      expect(checkConstraintValues('regexp', String(c.l), true, c.r!, true)).toBe(c.result);
    });
  }
  for (const c of cases['set_contains_any'] ?? []) {
    it(`set_contains_any: ${show(c.l)} against ${show(c.r)} is ${c.result}`, () => {
      expect(checkConstraintValues('set_contains_any', String(c.l), true, c.r!, true)).toBe(c.result);
    });
  }
});

describe('constraint targets', () => {
  it('resolves attributes, meta and node variables, and reports missing keys as not found', () => {
    const n = nomadMock.node({ Name: 'n1', NodeClass: 'large' });
    expect(resolveTarget('${attr.kernel.name}', n)).toEqual({ value: 'linux', found: true });
    expect(resolveTarget('${meta.database}', n)).toEqual({ value: 'mysql', found: true });
    expect(resolveTarget('${node.unique.name}', n).value).toBe('n1');
    expect(resolveTarget('${node.unique.id}', n).value).toBe(n.ID);
    expect(resolveTarget('${node.class}', n).value).toBe('large');
    expect(resolveTarget('${node.pool}', n).value).toBe('default');
    expect(resolveTarget('${node.datacenter}', n).value).toBe('dc1');
    expect(resolveTarget('${attr.nope}', n).found).toBe(false);
    expect(resolveTarget('literal', n)).toEqual({ value: 'literal', found: true });
  });

  it('compares numbers numerically and other values lexically', () => {
    const n = nomadMock.node();
    n.Meta = { ...n.Meta, cores: '10' };
    expect(checkConstraint({ LTarget: '${meta.cores}', RTarget: '9', Operand: '>' }, n)).toBe(true);
    expect(checkConstraint({ LTarget: '${meta.database}', RTarget: 'zzz', Operand: '<' }, n)).toBe(true);
  });

  it('treats constraints on unique attributes as escaping the class cache', () => {
    expect(constraintEscapesClass({ LTarget: '${node.unique.name}', RTarget: 'x', Operand: '=' })).toBe(true);
    expect(constraintEscapesClass({ LTarget: '${attr.unique.hostname}', RTarget: 'x', Operand: '=' })).toBe(true);
    expect(constraintEscapesClass({ LTarget: '${attr.kernel.name}', RTarget: 'linux', Operand: '=' })).toBe(false);
  });

  it('matches datacenter globs', () => {
    expect(datacenterMatches(['dc*'], 'dc2')).toBe(true);
    expect(datacenterMatches(['dc1'], 'dc2')).toBe(false);
    expect(datacenterMatches(['*'], 'anything')).toBe(true);
  });
});
