export { ConnectProxyDriver, HAPROXY_SIDECAR_CONFIG_PATH, SIDECAR_CONFIG_FILE } from './connect-proxy-driver.js';
