export { startAgent, SUPPORTED_FEATURES, type Agent } from './agent.js';
export { defaultConfig, mergeConfig, type AgentConfig, type GatewayConfig } from './config.js';
export { gatewayUrl, serverCatalogQuery } from './gateway.js';
export { DROVER_VERSION } from './version.js';
export { restoreSnapshot } from '../state/index.js';
export { simulateSnapshotFile } from './sim-offline.js';
