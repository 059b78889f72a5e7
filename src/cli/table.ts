// Aligned text columns for the CLI's human output.
export function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  return tableWithNotes(header, rows, []);
}

/**
 * table() with indented lines under rows (notes[i] under rows[i], starting at
 * the second column): details too long for a cell, such as why a hook was skipped.
 */
export function tableWithNotes(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>, notes: ReadonlyArray<readonly string[]>): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const indent = ' '.repeat(widths[0] + 2);
  const line = (row: readonly string[]) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ');
  return cells.flatMap((row, i) => [line(row), ...(i > 0 ? notes[i - 1] ?? [] : []).map((note) => indent + note)]).join('\n');
}
