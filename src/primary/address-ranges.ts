// Address ranges in CIDR notation ("192.168.0.0/16", "fd00::/8", or one address): which peers
// may use a door that has no credentials of its own (legacy nodes: `legacy.allow`). Node's
// BlockList does the matching; an IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is matched as IPv4.

import net from 'node:net';
import { ConfigError } from '../protocol/errors.js';

export class AddressRanges {
  readonly #list = new net.BlockList();
  readonly ranges: readonly string[];

  /** @throws ConfigError naming the first range that is not an address or CIDR range. */
  constructor(ranges: readonly string[], setting: string) {
    this.ranges = ranges;
    for (const range of ranges) {
      const [address = '', bits, extra] = range.trim().split('/');
      const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
      const max = family === 'ipv4' ? 32 : 128;
      const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
      if (family === undefined || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
        throw new ConfigError(
          `${setting}: ${JSON.stringify(range)} is not an address or a CIDR range (such as 192.168.0.0/16 or fd00::/8)`,
        );
      }
      this.#list.addSubnet(address, prefix, family);
    }
  }

  /** Whether the peer address `ip` (as a socket reports it) is in one of the ranges. */
  has(ip: string | undefined): boolean {
    if (ip === undefined) return false;
    // A link-local peer carries its zone (fe80::1%eth0), which BlockList does not take.
    const unzoned = ip.includes('%') ? ip.slice(0, ip.indexOf('%')) : ip;
    const plain = unzoned.startsWith('::ffff:') && net.isIPv4(unzoned.slice(7)) ? unzoned.slice(7) : unzoned;
    const family = net.isIPv4(plain) ? 'ipv4' : net.isIPv6(plain) ? 'ipv6' : undefined;
    return family !== undefined && this.#list.check(plain, family);
  }
}
