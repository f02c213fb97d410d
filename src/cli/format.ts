// Plain-text tables and durations for the terminal. `--json` output bypasses all of this.

import { honouredDeadline } from '../reaper/policy';
import { PROVIDER_LABEL } from '../base/tokens';
import type { Machine } from '../providers/types';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** 5 min, 2 h 05 min, 3 d 4 h. */
export function duration(ms: number): string {
  const m = Math.floor(Math.abs(ms) / 60_000);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function price(m: { pricePerHour: number | undefined; currency: 'USD' | 'EUR' }): string {
  if (m.pricePerHour === undefined || !Number.isFinite(m.pricePerHour)) return '-';
  return `${m.currency === 'USD' ? '$' : '€'}${m.pricePerHour.toFixed(4)}/h`;
}

/** Ages and time left against the provider's clock. */
export function machineRows(machines: readonly Machine[], serverNow: (m: Machine) => number): string[][] {
  return machines.map((m) => {
    const now = serverNow(m);
    const created = Date.parse(m.createdAt);
    const honoured = honouredDeadline(m);
    const deadline = honoured?.at ?? NaN;
    const left =
      (Number.isNaN(deadline) ? '-' : deadline <= now ? `overdue ${duration(now - deadline)}` : duration(deadline - now)) + (honoured?.tampered ? ' (tampered deadline)' : '');
    return [
      PROVIDER_LABEL[m.provider],
      m.name,
      m.id,
      m.status,
      m.ipv4 ?? '-',
      m.ipv6 ?? '-',
      m.region,
      m.size,
      Number.isNaN(created) ? '-' : duration(now - created),
      left,
      price(m),
    ];
  });
}

export const MACHINE_HEADER = ['PROVIDER', 'NAME', 'ID', 'STATUS', 'IPV4', 'IPV6', 'REGION', 'SIZE', 'AGE', 'LEFT', 'PRICE'];

/** JSON for scripts: every field of the model present, absent values as null (JSON has no undefined). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v === undefined ? null : v), 2);
}
