// `picluster join-command [--name N] [--labels k=v] [--host H] [--ttl 1h] [--uses N]
// [--install-service]`: the one line to paste on a new node. It carries the primary's address, a
// join code (a short-lived secret the primary takes in place of the cluster token: the node never
// holds the token) and the TLS fingerprint. Pasted twice it does no harm: a node that joined
// already proves its own node secret, and the code is not needed again.

import { parseDuration } from '../common/duration.js';
import { ApiCallError, callApi } from './api-client.js';
import type { Config } from './config.js';
import { reportErrors } from './tasks.js';

export interface JoinCommandOptions {
  name?: string;
  labels?: string;
  host?: string;
  ttl?: string;
  uses?: number;
  installService: boolean;
}

interface Grant {
  code: string;
  expiresAt: number;
  uses: number;
  port: number;
  fingerprint: string | null;
  host: string;
}

/** A word of a shell command line, quoted when it needs to be. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export async function runJoinCommand(config: Config, options: JoinCommandOptions): Promise<number> {
  return reportErrors(async () => {
    const ttlMs = options.ttl === undefined ? undefined : parseDuration(options.ttl);
    if (options.ttl !== undefined && ttlMs === undefined)
      throw new ApiCallError(`--ttl ${options.ttl}: a duration like "1h" or "30m"`);
    const grant = await callApi<Grant>(config, 'POST', '/api/join-codes', { ttlMs, uses: options.uses });
    const host = options.host ?? grant.host;
    // An IPv6 address in brackets, as --primary reads it ("fd00::10:12345" would be one address).
    const flags = ['--primary', `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${grant.port}`];
    flags.push(...(grant.fingerprint ? ['--primary-fingerprint', grant.fingerprint] : ['--no-tls']));
    flags.push('--token', grant.code);
    if (options.name) flags.push('--name', options.name);
    if (options.labels) flags.push('--labels', options.labels);
    const words = options.installService
      ? ['sudo', 'picluster', 'install-service', 'secondary', '--', ...flags]
      : ['picluster', 'secondary', ...flags];
    process.stdout.write(`${words.map(shellWord).join(' ')}\n`);
    const until = new Date(grant.expiresAt).toISOString().replace('T', ' ').slice(0, 16);
    process.stderr.write(
      `# run it on the new node (picluster installed there); the code lets ${grant.uses} node${grant.uses === 1 ? '' : 's'} join until ${until} UTC\n`,
    );
    return 0;
  });
}
