import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';
import type { Caller } from '../collection/key-collection';
import { forwardedCertificate, handshakeCertificate } from '../tls/presented-certificate';
import { normalizeAddress } from './connection-limits';

/**
 * Who a request comes from, decided once: when the peer is a configured trusted proxy, the
 * client's address is the one it forwarded (X-Forwarded-For) and its certificate the one in
 * `certificateHeader`; from any other peer, both headers are ignored and the peer's own address
 * and handshake certificate count.
 */
export class CallerSource {
  constructor(
    private readonly trustedProxies: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]>,
    private readonly certificateHeader: string,
  ) {}

  callerOf(req: IncomingMessage, requestId: string): Caller {
    const peer = req.socket.remoteAddress ?? '';
    if (!this.isTrustedProxy(peer)) return { requestId, address: normalizeAddress(peer), certificate: handshakeCertificate(req.socket as TLSSocket) };
    return { requestId, address: forwardedAddress(req, peer, this), certificate: forwardedCertificate(req.headers[this.certificateHeader]) };
  }

  isTrustedProxy(address: string | undefined): boolean {
    if (!address || this.trustedProxies.length === 0 || !ipaddr.isValid(address)) return false;
    let parsed = ipaddr.parse(address);
    if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
    return this.trustedProxies.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
  }
}

/**
 * The client's address behind a trusted peer: X-Forwarded-For read from the right, through
 * further trusted proxies. The header is text anyone upstream of the proxy may have written:
 * what is not an IP address is not used (it would count, block and log a made-up "address"),
 * the peer's is.
 */
function forwardedAddress(req: IncomingMessage, peer: string, source: CallerSource): string {
  // Index 0 is the peer itself, already found trusted.
  const forwarded = proxyAddr(req, (address, index) => index === 0 || source.isTrustedProxy(address));
  return normalizeAddress(ipaddr.isValid(forwarded) ? forwarded : peer);
}
