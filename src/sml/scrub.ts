/**
 * Removes a secret from a text an SML wrote (a fault string, a broken envelope) before the
 * text goes anywhere: an SML may echo its input, and a migration key in a log line, a stored
 * error or `/readyz` stays the participant's key. Pure.
 *
 * Not only the exact key: any run of `MIN_ECHO` or more of its consecutive characters, in any
 * case (an SML that truncates or upper-cases its echo still gives most of the key away), and
 * the key URL-encoded.
 */
const MIN_ECHO = 6;
export const SCRUBBED = '[migration key]';

export function scrubSecret(text: string, secret: string | undefined): string {
  if (!secret || secret.length < MIN_ECHO) return text;
  const encoded = encodeURIComponent(secret);
  const unencoded = encoded === secret ? text : text.split(encoded).join(SCRUBBED);
  const lower = unencoded.toLowerCase();
  const secretLower = secret.toLowerCase();
  const echoed = new Uint8Array(unencoded.length);
  for (let start = 0; start + MIN_ECHO <= secretLower.length; start++) {
    const window = secretLower.slice(start, start + MIN_ECHO);
    for (let at = lower.indexOf(window); at >= 0; at = lower.indexOf(window, at + 1)) echoed.fill(1, at, at + MIN_ECHO);
  }
  if (!echoed.includes(1)) return unencoded;
  let result = '';
  for (let i = 0; i < unencoded.length; i++) {
    if (!echoed[i]) result += unencoded[i];
    else if (i === 0 || !echoed[i - 1]) result += SCRUBBED;
  }
  return result;
}
