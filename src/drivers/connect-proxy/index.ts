export { ConnectProxyDriver, SIDECAR_CONFIG_FILE } from './connect-proxy-driver.js';
