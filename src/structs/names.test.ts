import { describe, expect, it } from 'vitest';
import {
  allocIDProblem,
  groupNameProblem,
  jobIDProblem,
  namespaceNameProblem,
  serviceNameProblem,
  taskNameProblem,
  variablePathProblem,
} from './names.js';

describe('names', () => {
  it('refuses task and group names that are not one plain path segment', () => {
    for (const bad of ['../../../../victim', 'a/b', 'a\\b', '.', '..', '', 'x\u0000y', 'tab\there', 'x'.repeat(129)]) {
      expect(taskNameProblem(bad), bad).toBeDefined();
      expect(groupNameProblem(bad), bad).toBeDefined();
    }
    for (const good of ['web', 'my.task-1_a', '..hidden', 'a..b', 'x'.repeat(128)]) {
      expect(taskNameProblem(good), good).toBeUndefined();
      expect(groupNameProblem(good), good).toBeUndefined();
    }
  });

  it('names the offending character in the message', () => {
    expect(taskNameProblem('../x')).toMatch(/must not contain "\/"/);
    expect(jobIDProblem('a\u0001b')).toMatch(/control character/);
    expect(jobIDProblem('a b')).toMatch(/space/);
  });

  it('applies Nomad rules to namespaces and variable paths', () => {
    expect(namespaceNameProblem('prod-1')).toBeUndefined();
    expect(namespaceNameProblem('prod_1')).toBeDefined();
    expect(namespaceNameProblem('')).toBeDefined();
    expect(variablePathProblem('nomad/jobs/web')).toBeUndefined();
    expect(variablePathProblem('../etc')).toBeDefined();
    expect(variablePathProblem('a'.repeat(129))).toBeDefined();
  });

  it('accepts interpolated service names and refuses resolved names that are not DNS labels', () => {
    expect(serviceNameProblem('${NOMAD_JOB_NAME}-web')).toBeUndefined();
    expect(serviceNameProblem('${NOMAD_JOB_NAME}-web', true)).toBeDefined();
    expect(serviceNameProblem('web\nx')).toBeDefined();
    expect(serviceNameProblem('x'.repeat(64), true)).toBeDefined();
  });

  it('accepts UUIDs as allocation IDs and refuses anything with a separator', () => {
    expect(allocIDProblem('5b1c7a2e-0c55-4bb2-9d43-7e4d0f1c7f00')).toBeUndefined();
    for (const bad of ['..', '../x', 'a/b', '', 'x'.repeat(65)]) expect(allocIDProblem(bad), bad).toBeDefined();
  });
});
