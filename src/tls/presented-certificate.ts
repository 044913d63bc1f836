import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import ipaddr from 'ipaddr.js';

/**
 * Where the client certificate of a request comes from: the TLS handshake, or, only when the
 * peer is a configured trusted proxy, a header carrying the URL-encoded PEM (nginx's
 * $ssl_client_escaped_cert). A header from any other address is ignored.
 */
export type PresentedCertificate = { kind: 'none' } | { kind: 'der'; der: Uint8Array } | { kind: 'malformed' };

export class CertificateSource {
  /**
   * The peer certificate of each TLS connection, read once: getPeerX509Certificate() builds a
   * new X509Certificate on every call (measured ~0.3 ms), and renegotiation is disabled on the
   * listener, so a connection's certificate cannot change while it lives.
   */
  private readonly perConnection = new WeakMap<object, PresentedCertificate>();

  constructor(
    private readonly trustedProxies: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]>,
    private readonly headerName: string,
  ) {}

  fromRequest(req: IncomingMessage): PresentedCertificate {
    if (this.isTrustedProxy(req.socket.remoteAddress)) return decodeHeader(req.headers[this.headerName]);
    let presented = this.perConnection.get(req.socket);
    if (!presented) {
      const der = (req.socket as TLSSocket).getPeerX509Certificate()?.raw;
      presented = der ? { kind: 'der', der } : { kind: 'none' };
      this.perConnection.set(req.socket, presented);
    }
    return presented;
  }

  isTrustedProxy(address: string | undefined): boolean {
    if (!address || this.trustedProxies.length === 0 || !ipaddr.isValid(address)) return false;
    let parsed = ipaddr.parse(address);
    if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
    return this.trustedProxies.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
  }
}

const PEM_BLOCK = /^-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----$/;

function decodeHeader(value: string | string[] | undefined): PresentedCertificate {
  if (value === undefined || value === '') return { kind: 'none' };
  if (Array.isArray(value)) return { kind: 'malformed' };
  let pem: string;
  try {
    pem = decodeURIComponent(value).trim();
  } catch {
    return { kind: 'malformed' };
  }
  const match = PEM_BLOCK.exec(pem);
  if (!match) return { kind: 'malformed' };
  const der = Buffer.from(match[1].replace(/\s/g, ''), 'base64');
  return der.length > 0 ? { kind: 'der', der } : { kind: 'malformed' };
}
