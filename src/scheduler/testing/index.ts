/** The scheduler's test harness, reused by server tests and benchmarks; the mock rows are in src/testing. */
export { Harness, countPlanned, flattenPlanned } from './harness.js';
