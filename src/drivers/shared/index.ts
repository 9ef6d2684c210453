export { parseDurationMs, signalNumber, signalName, driverError, isRecoverable, taskNotFound, sleep, withAbort, emptyUsage } from './util.js';
