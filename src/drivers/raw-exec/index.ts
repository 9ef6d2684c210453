export { RawExecDriver, type RawExecOptions, resolveCommand } from './raw-exec-driver.js';
export { readProcStat, processAlive, processTree, processGroup } from '../shared/proc.js';
