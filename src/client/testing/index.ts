export { FakeServer, testJob, testTask, testAlloc, waitFor } from './fake-server.js';
