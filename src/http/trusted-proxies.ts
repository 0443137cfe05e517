/**
 * Which direct peers are trusted proxies (TRUSTED_PROXIES: addresses and CIDR
 * ranges), and the user a trusted proxy names (TRUSTED_PROXY_USER_HEADER).
 */
import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { CONTROL_CHARS } from '../model/message.js';

/** Longest user name taken from a proxy header. */
const MAX_USER_LENGTH = 150;

/** True when `address` (the socket's peer) is one of `entries`; IPv4-mapped IPv6 peers count as IPv4. */
export function proxyMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (peer) => {
    if (peer === undefined || entries.length === 0) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(peer)?.[1];
    const address = mapped ?? peer;
    return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * The user a trusted proxy names in `header`, or null: when no header is configured, the peer
 * is not a trusted proxy, or the value is empty, too long or holds control characters.
 */
export function proxyUser(headers: IncomingHttpHeaders, header: string | undefined, peerTrusted: boolean): string | null {
  if (header === undefined || !peerTrusted) return null;
  const value = headers[header];
  if (typeof value !== 'string') return null;
  const user = value.trim();
  return user !== '' && user.length <= MAX_USER_LENGTH && !CONTROL_CHARS.test(user) ? user : null;
}
