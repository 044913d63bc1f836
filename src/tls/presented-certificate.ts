import type { TLSSocket } from 'node:tls';

/**
 * The client certificate of a request: from the TLS handshake, or, only when the peer is a
 * configured trusted proxy, from a header carrying the URL-encoded PEM (nginx's
 * $ssl_client_escaped_cert). Which of the two is decided once per request, with the client's
 * address (http/caller.ts).
 */
export type PresentedCertificate = { kind: 'none' } | { kind: 'der'; der: Uint8Array } | { kind: 'malformed' };

/**
 * The peer certificate of each TLS connection, read once: getPeerX509Certificate() builds a
 * new X509Certificate on every call (measured ~0.3 ms), and renegotiation is disabled on the
 * listener, so a connection's certificate cannot change while it lives.
 */
const perConnection = new WeakMap<TLSSocket, PresentedCertificate>();

export function handshakeCertificate(socket: TLSSocket): PresentedCertificate {
  let presented = perConnection.get(socket);
  if (!presented) {
    const der = socket.getPeerX509Certificate()?.raw;
    presented = der ? { kind: 'der', der } : { kind: 'none' };
    perConnection.set(socket, presented);
  }
  return presented;
}

const PEM_BLOCK = /^-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----$/;

/** The certificate a trusted proxy forwarded in a header; a repeated or undecodable header is malformed (803). */
export function forwardedCertificate(value: string | string[] | undefined): PresentedCertificate {
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
