/** HSMP_REVOCATION: `soft` lets an unanswered question pass (logged), `hard` answers 503. */
export type RevocationMode = 'off' | 'soft' | 'hard';
export type RevocationSource = 'ocsp' | 'crl';
