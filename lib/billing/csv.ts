// CSV for spreadsheets (RFC 4180): fields separated by commas, lines by CRLF, a field quoted when
// it holds a comma, a quote or a line break, quotes doubled inside.
//
// Text a user or a task runner chose (an agent's name) can start with `=`, `+`, `-`, `@`, a tab
// or a carriage return, which spreadsheet programs run as a formula ("CSV injection"). Such a
// text field gets a leading apostrophe, which spreadsheets show as text. Numbers we format
// ourselves are never guarded, so they stay numbers.

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export type CsvField = { text: string } | number | string | null;

function quote(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** A field: `{ text }` is untrusted text (guarded), a string is a value we formatted, null is empty. */
export function csvField(field: CsvField): string {
  if (field === null) return '';
  if (typeof field === 'number') return String(field);
  if (typeof field === 'string') return quote(field);
  return quote(FORMULA_START.test(field.text) ? `'${field.text}` : field.text);
}

export function csvLine(fields: CsvField[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}
