// Logging for the CLI: pino, pretty on a terminal, JSON lines otherwise, always on stderr so
// `picluster status --json` keeps stdout clean. Secrets are redacted by key, wherever they nest.

import pino from 'pino';
import pretty from 'pino-pretty';

export function createLogger(level: string): pino.Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: {
      paths: ['token', 'secret', 'nodeSecret', 'proof', '*.token', '*.secret', '*.nodeSecret', '*.proof'],
      censor: '[redacted]',
    },
    serializers: { err: pino.stdSerializers.err },
  };
  if (process.stderr.isTTY) {
    return pino(options, pretty({ destination: 2, colorize: true, ignore: 'pid,hostname', sync: true }));
  }
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
