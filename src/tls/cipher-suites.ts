/**
 * TLS 1.2 suites the public listener accepts: forward-secret key exchange (ECDHE) with an AEAD
 * cipher (AES-GCM, ChaCha20-Poly1305), as Mozilla's "intermediate" profile. Without this list
 * Node also accepted static-RSA and CBC suites such as AES128-SHA. TLS 1.3 suites are all of
 * that kind and stay Node's defaults.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
