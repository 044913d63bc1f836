/**
 * Participant identifiers of Belgian enterprises (SPEC §2). Pure: no I/O.
 *
 * Accepted spellings, nothing else (no trimming, ASCII digits only):
 *   0123456789  0123.456.789  BE0123456789  BE0123.456.789
 *   0208:0123456789  9956:0123456789
 *   iso6523-actorid-upis::0208:0123456789  iso6523-actorid-upis::9956:0123456789
 * The scheme prefix and the BE prefix are case-insensitive. 9956 is the enterprise number's
 * old ICD: the answer is always for the 0208 participant, the one the SML knows.
 */
import type { BelgianParticipant } from '../domain/participant';

const SCHEMED = /^(?:iso6523-actorid-upis::)?(?:0208|9956):([01][0-9]{9})$/i;
const PLAIN = /^(?:BE)?([01][0-9]{9})$/i;
const DOTTED = /^(?:BE)?([01][0-9]{3})\.([0-9]{3})\.([0-9]{3})$/i;
/** The CBE dump's spelling: dddd.ddd.ddd, nothing before or after. */
const DOTTED_ONLY = /^([01][0-9]{3})\.([0-9]{3})\.([0-9]{3})$/;

/** Returns null for anything that is not a valid enterprise number in an accepted spelling. */
export function parseParticipantId(raw: string): BelgianParticipant | null {
  const digits = digitsOf(raw);
  if (digits === null || !hasValidCheckDigits(digits)) return null;
  return belgianParticipant(digits);
}

/** The participant of a ten-digit enterprise number already known to be valid (read from the database). */
export function belgianParticipant(tenDigits: string): BelgianParticipant {
  return { enterpriseNumber: tenDigits, value: `0208:${tenDigits}` };
}

function digitsOf(raw: string): string | null {
  if (raw.length > 64) return null;
  const match = SCHEMED.exec(raw) ?? PLAIN.exec(raw);
  if (match) return match[1];
  const dotted = DOTTED.exec(raw);
  return dotted ? dotted[1] + dotted[2] + dotted[3] : null;
}

/** The ten digits of a CBE-dump number (dddd.ddd.ddd with valid check digits), else null. */
export function parseDottedNumber(dotted: string): string | null {
  const match = DOTTED_ONLY.exec(dotted);
  if (!match) return null;
  const number = match[1] + match[2] + match[3];
  return hasValidCheckDigits(number) ? number : null;
}

/** The CBE rule: the last two digits equal 97 − (first eight digits mod 97). */
export function hasValidCheckDigits(tenDigits: string): boolean {
  if (!/^[01][0-9]{9}$/.test(tenDigits)) return false;
  const body = Number(tenDigits.slice(0, 8));
  return 97 - (body % 97) === Number(tenDigits.slice(8));
}

/** Makes the check digits for an eight-digit body: used by seeding and tests. */
export function withCheckDigits(firstEightDigits: string): string {
  const check = 97 - (Number(firstEightDigits) % 97);
  return firstEightDigits + String(check).padStart(2, '0');
}
