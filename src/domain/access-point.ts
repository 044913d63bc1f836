import type { Environment } from './environment';

/** The caller, once its certificate has passed every check. */
export interface AccessPoint {
  /** Subject CN of the AP certificate: the Peppol seat id, e.g. PBE000123. */
  seatId: string;
  /** SHA-256 of the certificate's DER, hex. */
  fingerprint: string;
  /** Environment of the AP CA that issued the certificate. */
  environment: Environment;
}

/**
 * The quota user (SPEC §3): a seat id in the environment of its certificate, written
 * `<environment>:<seat id>` in counters and blocks. Built and read here only.
 */
export function userSubject(user: Pick<AccessPoint, 'environment' | 'seatId'>): string {
  return `${user.environment}:${user.seatId}`;
}

export function parseUserSubject(subject: string): { environment: string; seatId: string } {
  const at = subject.indexOf(':');
  return { environment: subject.slice(0, at), seatId: subject.slice(at + 1) };
}
