export { FakeServer } from './fake-server.js';
export { testAlloc, testJob, testTask } from './rows.js';
