/**
 * Text PostgreSQL can store, keeping what was asked: a `text` value cannot hold NUL (one `%00`
 * in an id made PostgreSQL refuse a whole batch of log rows), so NUL is written as the six
 * characters `\u0000`. Lone UTF-16 surrogates need nothing here: the driver's UTF-8 encoding
 * already turns them into U+FFFD.
 */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\\u0000') : text;
}
