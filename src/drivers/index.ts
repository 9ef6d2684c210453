/**
 * Task drivers: the contract (types.ts), the built-in drivers, and the registry the agent uses.
 * The conformance suite lives in `drivers/testing/` (it imports vitest, so it is not exported from here).
 */
export type * from './types.js';
export { RECOVERABLE_DETAIL } from './types.js';
export { MockDriver, type MockDriverOptions } from './mock/index.js';
export { RawExecDriver, type RawExecOptions } from './raw-exec/index.js';
export { ConnectProxyDriver, HAPROXY_SIDECAR_CONFIG_PATH, SIDECAR_CONFIG_FILE } from './connect-proxy/index.js';
export {
  builtinDrivers,
  canonicalDriverName,
  DRIVER_FACTORIES,
  type BuiltinDriversOptions,
  type DriverPluginBlock,
  type DriverFactory,
  type DriverFactoryContext,
  type DriverEventSink,
} from './registry.js';
export { parseDurationMs, signalNumber, signalName, driverError, isRecoverable, taskNotFound } from './shared/index.js';
