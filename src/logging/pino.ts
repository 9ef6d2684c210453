import { pino } from 'pino';
import type { LogFields, Logger } from './index.js';

type PinoLike = ReturnType<typeof pino>;

function wrap(p: PinoLike): Logger {
  return {
    debug: (msg, f?: LogFields) => p.debug(f ?? {}, msg),
    info: (msg, f?: LogFields) => p.info(f ?? {}, msg),
    warn: (msg, f?: LogFields) => p.warn(f ?? {}, msg),
    error: (msg, f?: LogFields) => p.error(f ?? {}, msg),
    child: (fields) => wrap(p.child(fields)),
  };
}

/** The agent's logger: JSON lines to stderr (fd 2) at the given level. */
export function pinoLogger(level: string = 'info'): Logger {
  return wrap(pino({ level, base: undefined }, pino.destination(2)));
}
