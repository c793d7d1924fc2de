// The only logging src/node does: one debug line for an error it swallows on purpose (a sensor
// that cannot be read, a failing vcgencmd), so the field is left absent instead of failing the
// sample. Structural, so pino or connection/'s Logger fit without node/ importing connection/.

export interface DebugLogger {
  debug(fields: object, message: string): void;
}

export const silentDebugLogger: DebugLogger = { debug: () => {} };
