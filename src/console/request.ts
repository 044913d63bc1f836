import type { Request, Response } from 'express';
import { BadRequest } from '../operations';
import type { PageContext } from './layout';
import type { SignedIn } from './sessions';

/** What a signed-in request carries through the console's handlers. */
export interface ConsoleLocals {
  session: SignedIn;
}

export const sessionOf = (res: Response): SignedIn => (res.locals as ConsoleLocals).session;

export function pageContext(req: Request, res: Response): PageContext {
  const session = sessionOf(res);
  return { operator: session.operator, csrfToken: session.csrfToken, flash: session.flash, path: req.path };
}

/** A form's fields as strings; an empty field is absent (the API's inputs treat absent as "all"). */
export function formFields(req: Request): Partial<Record<string, string>> {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const fields: Partial<Record<string, string>> = {};
  for (const [name, value] of Object.entries(body)) if (typeof value === 'string' && value !== '' && name !== '_csrf') fields[name] = value;
  return fields;
}

/** The reason a console change asks for: required here, though the API leaves it optional. */
export function requireReason(fields: Partial<Record<string, string>>): string {
  const reason = fields.reason;
  if (reason === undefined || reason.trim() === '') throw new BadRequest('reason: say why (it goes to the audit log)');
  return reason;
}
