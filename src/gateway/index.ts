/**
 * The gateway: a dynamic L7 proxy whose routes come from service tags in the catalog (Fabio-style
 * `urlprefix-` tags). Feed it any CatalogSource: MemorySource in tests, HttpCatalogSource to follow an agent
 * over HTTP, BlockingQuerySource inside an agent that holds the catalog. Two data planes: startGateway (Node)
 * and startHaproxyGateway (Drover drives a local HAProxy); both return the same Gateway handle.
 */
export type {
  AuthSource,
  GatewayTlsOptions,
  CatalogSource,
  DataPlane,
  Gateway,
  GatewayInstance,
  GatewayOptions,
  ListenAddress,
  LoadBalancing,
  RouteInfo,
  RouteSpec,
  RouteTargetInfo,
} from './types.js';
export { startGateway } from './gateway.js';
export { MemorySource } from './memory-source.js';
export { parseRouteTag, prefixMatches, stripPrefix, type TagProblem } from './routes.js';
export { routeOptionDocs, type RouteOptionDoc } from './route-options.js';
export { ADMIN_PREFIX } from './admin.js';
export { HttpCatalogSource, type HttpCatalogSourceOptions } from './http-source.js';
export {
  BlockingQuerySource,
  registrationToInstance,
  type BlockingAnswer,
  type BlockingQuery,
} from './blocking-source.js';
export { runGatewayProcess, parseListenAddress, type GatewayProcessOptions } from './process.js';
export { startHaproxyGateway, type HaproxyGatewayOptions } from './haproxy/plane.js';
export { findExecutable } from '../lib/haproxy/binary.js';
export { CertStore, checkCert, type CertEntry, type CertInfo } from './tls/certs.js';
export {
  readCaBundle,
  readSettingFile,
  startTlsFromFiles,
  type StartedTls,
  type TlsFileSettings,
} from './tls/setup.js';
export {
  CERTS_NAMESPACE,
  CERTS_PREFIX,
  certVariablePath,
  followCertVariables,
  httpCertQuery,
  type CertVariable,
  type CertVariablesQuery,
} from './tls/var-certs.js';
export {
  AcmeIssuer,
  ACME_ACCOUNT_PATH,
  ACME_LEASE_PATH,
  type AcmeSettings,
  type AcmeVariablePage,
  type AcmeVariableStore,
} from './tls/acme.js';
