/**
 * Values as error messages may quote them: whole when short, else their start and their length,
 * so a 50 MB value in a scenario is not echoed back whole.
 */

/** The longest text an error quotes whole. */
export const EXCERPT_CHARS = 40;

/** `text` whole when short, else its first `max` characters and how long it was. */
export function excerpt(text: string, max = EXCERPT_CHARS): string {
  if (text.length <= max) return text;
  // Never end on half of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, end)}… (${text.length} characters)`;
}

/** `value` as JSON (or text), cut to an excerpt; a long string is never serialised whole. */
export function quoted(value: unknown, max = EXCERPT_CHARS): string {
  if (typeof value === 'string' && value.length > max)
    return `${JSON.stringify(excerpt(value, max).replace(/… \(\d+ characters\)$/, ''))}… (${value.length} characters)`;
  return excerpt(JSON.stringify(value) ?? String(value), max);
}
