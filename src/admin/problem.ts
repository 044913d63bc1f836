import type { Response } from 'express';

/** RFC 9457 problem details for the admin API. */
export function sendProblem(res: Response, status: number, code: string, detail: string, extra: object = {}): void {
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ type: `urn:hsmp-mtci:admin:${code}`, title: code, status, code, detail, ...extra }));
}
