/**
 * What a client needs from the servers. In `-dev` the agent passes the server in-process; a remote
 * client uses the HTTP implementation against `/v1/internal/client/*` of a server agent. The contract itself
 * lives in structs/rpc.ts so that the server and the HTTP routes implement it without importing the client.
 */
export type {
  AllocClientUpdate,
  BlockingReadOptions,
  IndexedValue,
  NodeRegisterResponse,
  ServerRPC,
} from '../structs/index.js';
