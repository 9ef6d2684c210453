export { TaskTable, timedOutWaiting } from './task-table.js';
export { parseDurationMs, signalNumber, signalName, driverError, isRecoverable, taskNotFound, sleep, withAbort, emptyUsage } from './util.js';
