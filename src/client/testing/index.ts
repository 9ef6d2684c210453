export { FakeServer } from './fake-server.js';
export { testAlloc, testJob, testTask } from './rows.js';
export { quickTiming, startTestClient, tempDataDir, type Cleanups, type TestClientOptions } from './test-client.js';
