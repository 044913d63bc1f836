export { CertificateAuthenticator } from './authenticator';
export { TLS12_CIPHERS } from './cipher-suites';
export type { PresentedCertificate } from './presented-certificate';
export { RevocationChecker, type FetchDer } from './revocation';
export { TrustStore, TrustStoreError } from './trust-store';
