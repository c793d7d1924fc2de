// How a peer's address is written in logs, the node object and the API: "ip:port", an IPv6
// address in brackets ("[::1]:12345", so the port cannot be read as part of it), and an
// IPv4-mapped address of a dual-stack listener as the IPv4 address it is ("::ffff:10.0.0.2" is
// "10.0.0.2").

import { isIPv6 } from 'node:net';

export function formatPeerAddress(ip: string | undefined, port: number | undefined): string {
  const host = ip?.startsWith('::ffff:') && !isIPv6(ip.slice(7)) ? ip.slice(7) : (ip ?? 'unknown');
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The IP part of an address written by formatPeerAddress (brackets removed). */
export function ipOfPeerAddress(address: string): string {
  const colon = address.lastIndexOf(':');
  const host = colon === -1 ? address : address.slice(0, colon);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
