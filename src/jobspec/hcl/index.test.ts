import { describe, expect, it } from 'vitest';
import { diagnosticToProblem, formatDiagnostic, hasErrors, makeEvalContext, parseHCL } from './index.js';

describe('hcl module helpers', () => {
  it('formats a diagnostic as file:line,column-end: summary; detail', () => {
    const r = parseHCL('a = [1 2]\n', 'job.hcl');
    expect(formatDiagnostic(r.diagnostics[0]!)).toBe(
      'job.hcl:1,8-9: Missing item separator; Expected a comma to mark the beginning of the next item; found number 2.',
    );
    expect(hasErrors(r.diagnostics)).toBe(true);
  });

  it('turns a diagnostic into a Problem with file, line, column and block path', () => {
    const r = parseHCL('x {\n  a = = 1\n}\n', 'job.hcl');
    expect(diagnosticToProblem(r.diagnostics[0]!, 'job "x"')).toEqual({
      message: 'Invalid expression: Expected the start of an expression, but found "=".',
      file: 'job.hcl',
      line: 2,
      column: 7,
      block: 'job "x"',
    });
  });

  it('builds a context with the standard library unless given a table', () => {
    expect(Object.keys(makeEvalContext({}).functions!)).toContain('formatdate');
    const own = makeEvalContext({
      functions: { only: { params: [], minArgs: 0, maxArgs: 0, call: () => ({ kind: 'bool', value: true }) } },
    });
    expect(Object.keys(own.functions!)).toEqual(['only']);
  });
});
