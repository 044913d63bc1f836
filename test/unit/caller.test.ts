import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import { CallerSource } from '../../src/http/caller';

/**
 * Who a request comes from, without a server: the request is the part of Node's IncomingMessage
 * the source reads (the peer's address, its handshake certificate, the headers).
 */
const HEADER = 'x-ssl-client-cert';
const PEM = '-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----';
const HANDSHAKE_DER = Buffer.from([9, 9, 9]);

function request(peer: string, headers: Record<string, string> = {}): IncomingMessage {
  const socket = { remoteAddress: peer, getPeerX509Certificate: () => ({ raw: HANDSHAKE_DER }) };
  return { socket, headers } as unknown as IncomingMessage;
}

function source() {
  const trusted = new CallerSource([ipaddr.parseCIDR('10.0.0.0/8'), ipaddr.parseCIDR('192.0.2.0/24')], HEADER);
  const asked: string[] = [];
  const isTrustedProxy = trusted.isTrustedProxy.bind(trusted);
  trusted.isTrustedProxy = (address) => {
    asked.push(String(address));
    return isTrustedProxy(address);
  };
  return { trusted, asked };
}

describe('caller', () => {
  it('from a peer that is no trusted proxy: its own address and handshake certificate; the headers are ignored', () => {
    const { trusted } = source();
    const caller = trusted.callerOf(request('::ffff:198.51.100.7', { 'x-forwarded-for': '203.0.113.9', [HEADER]: encodeURIComponent(PEM) }), 'r1');
    expect(caller).toEqual({ requestId: 'r1', address: '198.51.100.7', certificate: { kind: 'der', der: HANDSHAKE_DER } });
  });

  it('from a trusted proxy: the forwarded address and certificate, the peer judged once', () => {
    const { trusted, asked } = source();
    const caller = trusted.callerOf(request('10.1.2.3', { 'x-forwarded-for': '203.0.113.9', [HEADER]: encodeURIComponent(PEM) }), 'r2');
    expect(caller).toEqual({ requestId: 'r2', address: '203.0.113.9', certificate: { kind: 'der', der: Buffer.from([1, 2, 3]) } });
    expect(asked.filter((address) => address === '10.1.2.3')).toHaveLength(1);
  });

  it('reads X-Forwarded-For from the right through further trusted proxies, and stops at the first untrusted address', () => {
    const { trusted } = source();
    const forwardedFor = '198.51.100.1, 203.0.113.9, 192.0.2.5';
    expect(trusted.callerOf(request('10.1.2.3', { 'x-forwarded-for': forwardedFor }), 'r3').address).toBe('203.0.113.9');
  });

  it('takes the peer when what a trusted proxy forwarded is not an IP address, and no certificate when it forwarded none', () => {
    const { trusted } = source();
    expect(trusted.callerOf(request('10.1.2.3', { 'x-forwarded-for': 'not-an-address' }), 'r4')).toEqual({
      requestId: 'r4',
      address: '10.1.2.3',
      certificate: { kind: 'none' },
    });
  });
});
