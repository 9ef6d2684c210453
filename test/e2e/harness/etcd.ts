/** Real etcd members for e2e tests; the helper lives beside the etcd backend, which tests it too. */
export { startEtcd, type TestEtcd, type StartEtcdOptions } from '../../../src/state/testing/etcd-server.js';
