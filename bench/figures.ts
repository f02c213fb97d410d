// One benchmark figure: its samples over repeats, their median, and a ratio against a reference figure. A figure
// whose prerequisite is missing carries `na` (the reason) and no number, so nothing made-up reaches the table.

export interface Figure {
  /** The benchmark it belongs to: `tree refresh`, `SSH throughput`… */
  group: string;
  name: string;
  unit: string;
  samples: number[];
  /** Median of the samples; null when not measured. */
  median: number | null;
  min?: number;
  max?: number;
  /** `against`: the figure this one is compared with; `value`: this median / that median. */
  ratio?: { value: number; against: string };
  /** Why there is no number: `needs …`. */
  na?: string;
  note?: string;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function figure(group: string, name: string, unit: string, samples: number[], note?: string): Figure {
  if (!samples.length) throw new Error(`${group} / ${name}: no samples`);
  return { group, name, unit, samples, median: median(samples), min: Math.min(...samples), max: Math.max(...samples), ...(note ? { note } : {}) };
}

export function notAvailable(group: string, name: string, unit: string, na: string): Figure {
  return { group, name, unit, samples: [], median: null, na };
}

/** Sets `f.ratio` to f / ref (medians). */
export function ratio(f: Figure, ref: Figure, label = ref.name): Figure {
  if (f.median !== null && ref.median !== null && ref.median !== 0) f.ratio = { value: f.median / ref.median, against: label };
  return f;
}

/** Runs `fn` n times (after `warmups` unmeasured runs) and returns what each run measured. */
export async function repeat(n: number, fn: (i: number) => Promise<number>, warmups = 0): Promise<number[]> {
  for (let i = 0; i < warmups; i++) await fn(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

export function ms(since: number): number {
  return performance.now() - since;
}

function num(x: number): string {
  const a = Math.abs(x);
  if (Number.isInteger(x)) return String(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

/** The figures as a plain-text table, grouped, medians with their range and ratio side by side. */
export function table(figures: readonly Figure[]): string {
  const rows: string[][] = [['benchmark', 'figure', 'median', 'min – max (n)', 'ratio', 'note']];
  let group = '';
  for (const f of figures) {
    const g = f.group === group ? '' : f.group;
    group = f.group;
    if (f.median === null) {
      rows.push([g, f.name, `n/a (${f.na ?? 'not measured'})`, '', '', '']);
      continue;
    }
    const range = f.samples.length > 1 ? `${num(f.min!)} – ${num(f.max!)} (${f.samples.length})` : '';
    const r = f.ratio ? `${num(f.ratio.value)}× ${f.ratio.against}` : '';
    rows.push([g, f.name, `${num(f.median)} ${f.unit}`, range, r, f.note ?? '']);
  }
  // An n/a reason may be long: it does not widen its column.
  const widths = rows[0]!.map((_, i) => Math.max(...rows.filter((r) => !(i === 2 && r[2]!.startsWith('n/a'))).map((r) => (r[i] ?? '').length)));
  return rows
    .map((r, i) => {
      const line = r
        .map((c, j) => (j === r.length - 1 ? c : c.padEnd(widths[j]!)))
        .join('  ')
        .trimEnd();
      return i === 0
        ? `${line}\n${'-'.repeat(
            Math.min(
              160,
              widths.reduce((a, b) => a + b + 2, 0),
            ),
          )}`
        : line;
    })
    .join('\n');
}

/** The same figures as a Markdown table (for the README). */
export function markdown(figures: readonly Figure[]): string {
  const lines = ['| Benchmark | Figure | Median | Range (n) | Ratio |', '| --- | --- | ---: | --- | --- |'];
  for (const f of figures) {
    const value = f.median === null ? `n/a (${f.na ?? 'not measured'})` : `${num(f.median)} ${f.unit}`;
    const range = f.median !== null && f.samples.length > 1 ? `${num(f.min!)} – ${num(f.max!)} (${f.samples.length})` : '';
    const r = f.ratio ? `${num(f.ratio.value)}× ${f.ratio.against}` : '';
    lines.push(`| ${f.group} | ${f.name}${f.note ? ` (${f.note})` : ''} | ${value} | ${range} | ${r} |`);
  }
  return lines.join('\n');
}
