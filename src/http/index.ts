export {
  startHttpApi,
  buildRouter,
  handleRequest,
  DEFAULT_MAX_BODY_BYTES,
  type HttpApi,
  type HttpTlsMaterial,
  type HttpTlsOptions,
} from './server.js';
export type {
  HttpApiOptions,
  ClientReadAPI,
  AgentInfo,
  ClusterInfo,
  ServerMember,
  RegionDirectory,
  MultiregionRollouts,
} from './types.js';
export { parseDurationMs } from './query.js';
export { kvAclPath } from './acl-rules.js';
export { decodeJob } from './routes/jobs.js';
export { JsonReply } from './reply.js';
export { MULTIREGION_HEADER } from './forward.js';
