import { AdminProblem } from '../domain/errors';

/** The refusals the operator use cases raise most, by their catalogue code. */
export class BadRequest extends AdminProblem {
  constructor(message: string) {
    super('bad-request', message);
  }
}

export class NotFound extends AdminProblem {
  constructor(message: string) {
    super('not-found', message);
  }
}

/** A log read that would take too long at this size of the log: the operator narrows the filter. */
export class ReadTooBroad extends AdminProblem {
  constructor(message: string) {
    super('narrow-the-filter', message);
  }
}
