import { AdminProblem, type ADMIN_PROBLEMS, type AdminProblemCode } from '../domain/errors';

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

/** The catalogue's codes that answer 409. */
type ConflictCode = { [K in AdminProblemCode]: (typeof ADMIN_PROBLEMS)[K]['status'] extends 409 ? K : never }[AdminProblemCode];

export class Conflict extends AdminProblem {
  constructor(code: ConflictCode, message: string) {
    super(code, message);
  }
}
