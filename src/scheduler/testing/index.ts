/** The scheduler's test harness and mock fixtures, reused by server tests and benchmarks. */
export { Harness, countPlanned, flattenPlanned } from './harness.js';
export { mockAlloc, mockBatchJob, mockEval, mockJob, mockNode, mockSystemJob } from './mock.js';
