import type { Response } from 'express';
import { ADMIN_PROBLEMS, type AdminProblemCode } from '../domain/errors';

/** RFC 9457 problem details for the admin API: status and title from the catalogue, the detail of this case. */
export function sendProblem(res: Response, code: AdminProblemCode, detail: string, extra: object = {}): void {
  const { status, title } = ADMIN_PROBLEMS[code];
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ type: `urn:hsmp-mtci:admin:${code}`, title, status, code, detail, ...extra }));
}
