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
