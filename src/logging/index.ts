/**
 * Logging is an interface, not a library dependency. Ids go in fields, not in the message.
 * `pinoLogger` is the agent's implementation; tests use `nullLogger` or `memoryLogger`.
 */
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger for one component: its fields are added to every line. */
  child(fields: LogFields): Logger;
}

export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
};

export interface MemoryLogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: LogFields;
}

/** Keeps lines in memory, for tests that assert on what was logged. */
export function memoryLogger(lines: MemoryLogLine[] = [], base: LogFields = {}): Logger & { lines: MemoryLogLine[] } {
  const log =
    (level: MemoryLogLine['level']) =>
    (msg: string, fields: LogFields = {}) => {
      lines.push({ level, msg, fields: { ...base, ...fields } });
    };
  return {
    lines,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => memoryLogger(lines, { ...base, ...fields }),
  };
}

export { pinoLogger } from './pino.js';
