// Logging for the CLI: pino, pretty on a terminal, JSON lines otherwise, always on stderr so
// `picluster status --json` keeps stdout clean. Secrets are redacted by key, wherever they nest.

import { createRequire } from 'node:module';
import pino from 'pino';

export function createLogger(level: string): pino.Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: {
      paths: [
        'token',
        'secret',
        'nodeSecret',
        'proof',
        'store',
        '*.token',
        '*.secret',
        '*.nodeSecret',
        '*.proof',
        '*.store',
      ],
      censor: '[redacted]',
    },
    serializers: { err: pino.stdSerializers.err },
  };
  if (process.stderr.isTTY) {
    // pino-pretty only on a terminal: services log JSON and do not load it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(options, pretty({ destination: 2, colorize: true, ignore: 'pid,hostname', sync: true }));
  }
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
