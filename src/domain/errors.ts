/**
 * Every error the service raises on purpose carries a stable code and the HTTP status it
 * answers with, both from one of two catalogues: HSMP_ERRORS for the public route (SPEC §2),
 * ADMIN_PROBLEMS for the operators' API. Each listener maps them to its bodies in one place (the
 * public route's XML and problem bodies, the admin API's problems); `hsmp-admin` prints the
 * problem's detail. Anything else is an internal error (500, logged): a bug.
 */
export class ServiceError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
  }

  /** Extra members for a problem body (e.g. a refused reconciliation's counts). */
  readonly details?: Record<string, unknown>;
}

/**
 * A deployment mistake found at start-up (or by the database, like another key-encryption key):
 * main() prints it in one line and exits 1. Never an HTTP answer.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The answers of SPEC §2, one place. Every refusal the public route gives is an HsmpError
 * thrown by the step that decides it; the HTTP layer only renders it.
 */
export const HSMP_ERRORS = {
  'HSMP-802': { status: 401, message: 'no client certificate supplied with the request' },
  'HSMP-803': { status: 401, message: 'the client certificate cannot be parsed' },
  'HSMP-804': { status: 401, message: 'the client certificate is expired or not yet valid' },
  'HSMP-805': { status: 401, message: 'the client certificate cannot be trusted by the Peppol trust store' },
  'HSMP-806': { status: 401, message: 'certificate environment does not match the requested environment' },
  'HSMP-807': { status: 401, message: 'the client certificate is revoked' },
  'HSMP-808': { status: 401, message: 'not a Peppol ACCESS POINT certificate' },
  'HSMP-001': { status: 404, message: 'invalid or non-existing enterprise number' },
  'HSMP-012': { status: 404, message: 'inactive enterprise number' },
  'HSMP-013': { status: 404, message: 'already migrated' },
  'HSMP-811': { status: 403, message: 'you have been blacklisted, please contact BOSA' },
  'HSMP-812': { status: 403, message: 'global limit reached, please contact BOSA' },
  'HSMP-813': { status: 403, message: 'limit reached for IP, please contact BOSA' },
  'HSMP-010': { status: 400, message: 'unsupported environment' },
  'HSMP-999': { status: 500, message: 'the service encountered an internal error' },
  // Outside the HSMP numbering of the contract: plain HTTP conditions of the route itself.
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed' },
  NOT_FOUND: { status: 404, message: 'no such resource' },
} as const;

export type HsmpCode = keyof typeof HSMP_ERRORS;

export interface HsmpErrorOptions {
  /** The participant identifier as asked, for participant errors. */
  participantId?: string;
  /** Overrides the catalogue's status (503 for an unavailable dependency). */
  status?: number;
  /** A more precise message than the catalogue's. */
  message?: string;
  retryAfterSeconds?: number;
  /** For a 503: which dependency failed (logs and metrics only, never the body). */
  dependency?: string;
  cause?: unknown;
}

export class HsmpError extends ServiceError {
  declare readonly code: HsmpCode;
  readonly participantId?: string;
  readonly retryAfterSeconds?: number;
  readonly dependency?: string;

  constructor(code: HsmpCode, options: HsmpErrorOptions = {}) {
    super(code, options.status ?? HSMP_ERRORS[code].status, options.message ?? HSMP_ERRORS[code].message, { cause: options.cause });
    this.participantId = options.participantId;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.dependency = options.dependency;
  }
}

/**
 * 503 HSMP-999: a dependency is down; nothing was issued or counted. The body does not say
 * which (that is the operators' business, not a caller's): the log and the metrics do.
 */
export function dependencyUnavailable(dependency: string, cause?: unknown): HsmpError {
  return new HsmpError('HSMP-999', {
    status: 503,
    message: 'a dependency is unavailable, please retry later',
    retryAfterSeconds: 5,
    dependency,
    cause,
  });
}

/**
 * The problems of the operators' API (RFC 9457 `code`, `status`, `title`), one place. The
 * OpenAPI document lists the same codes (AdminProblem.code), checked by a test.
 */
export const ADMIN_PROBLEMS = {
  'bad-request': { status: 400, title: 'the request is not valid' },
  'upload-incomplete': { status: 400, title: 'the upload ended before the whole dump arrived' },
  unauthorized: { status: 401, title: 'a valid operator bearer token is required' },
  'not-found': { status: 404, title: 'no such resource' },
  'sml-off': { status: 409, title: 'this deployment does not talk to the SML' },
  'nothing-to-revoke': { status: 409, title: 'there is no key handed out to revoke' },
  'participant-not-ours': { status: 409, title: "the SML says the participant is not this SMP's" },
  'key-changed': { status: 409, title: 'the key was removed while it was being revoked' },
  'job-running': { status: 409, title: 'a job of this kind is already running' },
  'import-refused': { status: 409, title: 'the import would deactivate too many enterprises' },
  'reconcile-refused': { status: 409, title: 'the reconciliation would mark too many keys migrated' },
  'dump-too-large': { status: 413, title: 'the dump is larger than allowed' },
  'payload-too-large': { status: 413, title: 'the request body is larger than allowed' },
  'unsupported-media-type': { status: 415, title: 'the request body is not of a supported type' },
  'malformed-dump': { status: 422, title: 'the dump is not a CBE enterprise file' },
  'internal-error': { status: 500, title: 'the admin request failed' },
  'sml-listing-invalid': { status: 502, title: "the SML's listing cannot be trusted" },
  'sml-unavailable': { status: 503, title: 'the SML is unavailable or refused the call' },
  'job-interrupted': { status: 503, title: 'the instance running the job shut down' },
  'job-abandoned': { status: 503, title: 'the instance running the job lost it' },
  'narrow-the-filter': { status: 503, title: 'the read would take too long at this size of the log: narrow the filter' },
  unavailable: { status: 503, title: 'a dependency is unavailable, please retry later' },
} as const satisfies Record<string, { status: number; title: string }>;

export type AdminProblemCode = keyof typeof ADMIN_PROBLEMS;

/** An operator's request refused (or failed for a reason that is not a bug), with its catalogue code. */
export class AdminProblem extends ServiceError {
  declare readonly code: AdminProblemCode;

  constructor(code: AdminProblemCode, detail: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, ADMIN_PROBLEMS[code].status, detail, options);
  }
}
