/** Allocation network namespaces on CNI plugins (bridge mode, port mapping, teardown and adoption). */
export {
  AllocNetworks,
  isolatedMode,
  namespaceHolder,
  networkStatus,
  portMappings,
  NETNS_DIR,
  type AllocNetworkStatus,
  type NamespaceHolder,
} from './alloc-network.js';
export { DEFAULT_BRIDGE, bridgeConfList, bridgeProblems, parseCIDR, type BridgeSettings } from './config.js';
export { missingPlugins, type CniConfList, type CniResult } from './cni.js';
