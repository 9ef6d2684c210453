export { TaskTable, timedOutWaiting } from './task-table.js';
export {
  parseDurationMs,
  signalNumber,
  signalName,
  driverError,
  isRecoverable,
  taskNotFound,
  sleep,
  withAbort,
  emptyUsage,
} from './util.js';
export { taskPolicyFrom, taskPolicyProblems, DEFAULT_DENIED_USERS, type TaskPolicy } from './task-policy.js';
