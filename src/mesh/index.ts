/** The service mesh: the mesh CA (leaf certificates) and the built-in sidecar proxy. */
export { createMeshCA, issueLeaf } from './ca.js';
export { SidecarProxy, VERDICT_DENIED, VERDICT_READY, type SidecarConfig, type UpstreamConfig } from './proxy.js';
export {
  HaproxySidecar,
  HAPROXY_SIDECAR_DIR,
  haproxySidecarPaths,
  intentionEntries,
  renderHaproxySidecar,
} from './haproxy-sidecar.js';
