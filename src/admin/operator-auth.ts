import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { AdminOperator } from '../config/config';
import { sendProblem } from './problem';

/**
 * Bearer tokens, configured as SHA-256 hashes. The presented token is hashed and compared
 * with every operator's hash in constant time (all of them, whichever matches), so neither
 * the token nor which operator it belongs to leaks through timing. No operators: all refused.
 */
export function operatorAuth(operators: readonly AdminOperator[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(req.headers.authorization ?? '');
    const presented = createHash('sha256')
      .update(match ? match[1] : '')
      .digest();
    let operator: string | undefined;
    for (const candidate of operators) {
      if (timingSafeEqual(presented, candidate.tokenSha256) && match) operator = candidate.name;
    }
    if (!operator) {
      res.set('WWW-Authenticate', 'Bearer realm="hsmp-admin"');
      sendProblem(res, 'unauthorized', 'a valid operator bearer token is required');
      return;
    }
    res.locals.operator = operator;
    next();
  };
}
