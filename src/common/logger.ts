// The narrow logger interface every layer logs through (pino's call shape), so they take any
// logger by option and never reach for a global one. Pure: an interface and a no-op.

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const noop = (): void => {};

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
