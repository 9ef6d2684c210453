export { LogRotator, livePath, logIndexes, type LogRotatorOptions } from './rotator.js';
export { readLogFiles, type ReadLogOptions } from './reader.js';
