/** Plain-text tables as the spec prints them (docs rootfs-commands.md, `rootfs list`). */

const MIB = 1024 * 1024;
/** The spec's columns are at least 10 wide and at least two spaces apart. */
const MIN_COLUMN_WIDTH = 10;
const COLUMN_GAP = 2;

/** `150 MB` for 150 MiB, as the spec shows sizes; below 10 MiB one decimal (`0.5 MB`). */
export function formatMiB(bytes: number): string {
  const mib = bytes / MIB;
  if (mib >= 10 || Number.isInteger(mib)) return `${Math.round(mib)} MB`;
  return `${mib.toFixed(1)} MB`;
}

/** `YYYY-MM-DD HH:MM` in UTC. */
export function formatUtcMinute(date: Date): string {
  return date.toISOString().slice(0, 16).replace('T', ' ');
}

/** Left-aligned columns; the last column is not padded. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) =>
    Math.max(MIN_COLUMN_WIDTH, title.length + COLUMN_GAP, ...rows.map((row) => (row[i] ?? '').length + COLUMN_GAP)),
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('');
  return [header, ...rows].map(line).join('\n') + '\n';
}
