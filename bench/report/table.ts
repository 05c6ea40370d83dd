// A plain table and its two renderings: aligned text for the terminal, and
// GitHub-flavoured Markdown for BENCHMARKS.md.

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  /** Right-align these columns (numbers). */
  numericColumns?: number[];
  /** Sentences printed under the table. */
  notes?: string[];
}

/** Value shown for a figure that does not apply to a row. */
export const NOT_APPLICABLE = 'n/a';
/** Value shown for a ratio whose reference was not measured or is too small to divide by. */
export const NO_RATIO = '–';

export function renderText(table: Table): string {
  const widths = table.headers.map((header, column) =>
    Math.max(header.length, ...table.rows.map((row) => (row[column] ?? '').length)),
  );
  const numeric = new Set(table.numericColumns ?? []);
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  const parts = [table.title, line(table.headers), line(widths.map((width) => '-'.repeat(width)))];
  for (const row of table.rows) parts.push(line(row));
  for (const note of table.notes ?? []) parts.push(`  ${note}`);
  return `${parts.join('\n')}\n`;
}

function escapeMarkdown(cell: string): string {
  return cell.replace(/\|/g, '\\|');
}

export function renderMarkdown(table: Table, headingLevel = 3): string {
  const numeric = new Set(table.numericColumns ?? []);
  const parts = [`${'#'.repeat(headingLevel)} ${table.title}`, ''];
  parts.push(`| ${table.headers.map(escapeMarkdown).join(' | ')} |`);
  parts.push(`|${table.headers.map((_, column) => (numeric.has(column) ? ' ---: ' : ' --- ')).join('|')}|`);
  for (const row of table.rows) parts.push(`| ${row.map(escapeMarkdown).join(' | ')} |`);
  if (table.notes?.length) {
    parts.push('');
    for (const note of table.notes) parts.push(`- ${note}`);
  }
  return `${parts.join('\n')}\n`;
}

export function formatInteger(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** Formats a positive figure with at least 3 significant digits and no exponent. */
export function formatFigure(value: number): string {
  if (value >= 100) return formatInteger(value);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export function formatRatio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return NO_RATIO;
  return `${value.toFixed(2)}×`;
}

export function formatMebibytes(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
