export { startAgent, SUPPORTED_FEATURES, type Agent } from './agent.js';
export { defaultConfig, mergeConfig, type AgentConfig } from './config.js';
export { DROVER_VERSION } from './version.js';
