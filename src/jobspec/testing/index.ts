/** Test helpers shared by unit and e2e tests: the jobspec conformance runner and its matchers. */
export * from './conformance.js';
export { zeroEqualDiff, isZero, getPath, deepEqual } from './match.js';
