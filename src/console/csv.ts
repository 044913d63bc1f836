/**
 * CSV of log rows (RFC 4180: comma, CRLF, a field quoted when it holds a comma, quote or line
 * break). A field that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
 * leading apostrophe: a participant or a reason is text anyone could have typed.
 */
export function csvLine(fields: readonly unknown[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = textOf(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A log value as text: times in ISO 8601 (UTC), JSON details as JSON. */
export function textOf(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
  return JSON.stringify(value);
}
