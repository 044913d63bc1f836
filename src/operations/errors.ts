import { ServiceError } from '../domain/errors';

/** What an operation refuses, with the admin API's status and code (mapped in one place there). */
export class BadRequest extends ServiceError {
  constructor(message: string) {
    super('bad-request', 400, message);
  }
}

export class NotFound extends ServiceError {
  constructor(message: string) {
    super('not-found', 404, message);
  }
}

export class Conflict extends ServiceError {
  constructor(code: string, message: string) {
    super(code, 409, message);
  }
}

/** A log read that would take too long at this size of the log: the operator narrows the filter. */
export class ReadTooBroad extends ServiceError {
  constructor(message: string) {
    super('narrow-the-filter', 503, message);
  }
}
