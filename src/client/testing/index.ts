export { FakeServer, testJob, testTask, testAlloc } from './fake-server.js';
