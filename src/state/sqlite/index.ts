export { SqliteBackend, type SqliteBackendOptions } from './sqlite-backend.js';
export { ThreadedSqliteBackend } from './threaded-backend.js';
export { addKeystoreToSnapshot, inspectSnapshot, restoreSnapshot, saveSnapshot } from './snapshot.js';
