import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { AdminOperator } from '../config/config';
import { sendProblem } from './problem';

/**
 * The operator a token belongs to. Tokens are configured as SHA-256 hashes; the presented one is
 * hashed and compared with every operator's hash in constant time (all of them, whichever
 * matches), so neither the token nor which operator it belongs to leaks through timing.
 */
export function operatorForToken(operators: readonly AdminOperator[], token: string | undefined): AdminOperator | undefined {
  const wellFormed = token !== undefined && /^[\x21-\x7e]{1,512}$/.test(token);
  const presented = createHash('sha256')
    .update(wellFormed ? token : '')
    .digest();
  let operator: AdminOperator | undefined;
  for (const candidate of operators) {
    if (timingSafeEqual(presented, candidate.tokenSha256) && wellFormed) operator = candidate;
  }
  return operator;
}

/** Bearer tokens for the admin API. No operators: all refused. */
export function operatorAuth(operators: readonly AdminOperator[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const token = /^Bearer (.*)$/s.exec(req.headers.authorization ?? '')?.[1];
    const operator = operatorForToken(operators, token);
    if (!operator) {
      res.set('WWW-Authenticate', 'Bearer realm="hsmp-admin"');
      sendProblem(res, 'unauthorized', 'a valid operator bearer token is required');
      return;
    }
    res.locals.operator = operator.name;
    next();
  };
}
