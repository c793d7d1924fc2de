// Primary addresses as users write them: "host:port,host:port" (IPv6 as [::1]:port).

import { DEFAULTS } from '../common/defaults.js';
import { ConfigError } from '../protocol/errors.js';

export interface PrimaryAddress {
  host: string;
  port: number;
}

/** Parses "host:port,host:port"; a missing port is the default cluster port. @throws ConfigError */
export function parsePrimaries(text: string): PrimaryAddress[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(entry);
      const port = Number(match?.[3] ?? DEFAULTS.port);
      if (!match || !(port > 0 && port < 65536)) {
        throw new ConfigError(`invalid primary = "${entry}": expected HOST:PORT`);
      }
      return { host: (match[1] ?? match[2]) as string, port };
    });
}
