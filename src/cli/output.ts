/**
 * Human output for the CLI: aligned tables, sizes, ages. `--json` output is `printJson`.
 */
export interface Column<T> {
  header: string;
  get: (row: T) => string | number | undefined | null;
}

export function printTable<T>(rows: readonly T[], columns: readonly Column<T>[], out = process.stdout): void {
  const cells = rows.map((r) => columns.map((c) => String(c.get(r) ?? '')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  out.write(`${line(columns.map((c) => c.header))}\n`);
  for (const row of cells) out.write(`${line(row)}\n`);
}

export function printJson(value: unknown, out = process.stdout): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function formatSize(bytes: number | undefined | null): string {
  if (bytes === undefined || bytes === null || Number.isNaN(bytes)) return '';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/** "3 seconds ago", "2 hours ago" from a time in ms. */
export function formatAgo(ms: number | undefined | null, now = Date.now()): string {
  if (!ms) return '';
  return `${formatDuration(now - ms)} ago`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? 'About an hour' : `${h} hours`;
  const d = Math.round(h / 24);
  if (d < 14) return `${d} days`;
  return `${Math.round(d / 7)} weeks`;
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
