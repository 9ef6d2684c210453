export { EtcdBackend, type EtcdBackendOptions } from './etcd-backend.js';
export {
  EtcdClient,
  EtcdResponseError,
  etcdFailure,
  prefixEnd,
  type Compare,
  type EtcdKV,
  type EtcdMember,
  type TxnOp,
  type WatchEvent,
} from './etcd-client.js';
