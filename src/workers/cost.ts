// What workers cost: the server-type table shown before (cores, RAM, disk, price per hour, as in vps-worker's
// serverTypes), the estimate for N workers over the expected time, and the bill after, per the providers' rules:
//   Hetzner bills each started hour (a 5-minute worker costs one hour);
//   DigitalOcean bills Droplets per second since 2026-01-01, at least 60 seconds or $0.01, whichever is more.
// Prices are what the provider's API says (Hetzner: net of VAT; an IPv4 address is billed on top).

import type { ProviderId, Size } from '../providers/types';
import type { CostLine, CostReport } from './types';

const HOUR = 3_600_000;

/** €0.0060, $0.0268 below one unit (hourly prices are small), €1.25 above. */
export function money(amount: number, currency: 'USD' | 'EUR'): string {
  const sign = currency === 'USD' ? '$' : '€';
  return `${sign}${amount.toFixed(Math.abs(amount) < 1 ? 4 : 2)}`;
}

/** The hourly price in a region (Hetzner's differ per location), else the cheapest. */
export function priceIn(size: Pick<Size, 'pricePerHour' | 'pricesByRegion'>, region: string): number {
  return size.pricesByRegion?.[region] ?? size.pricePerHour;
}

/** What one machine's `ms` of life is billed. */
export function billed(provider: ProviderId, pricePerHour: number, ms: number): number {
  const t = Math.max(0, ms);
  if (provider === 'hetzner') return Math.max(1, Math.ceil(t / HOUR)) * pricePerHour;
  return Math.max((pricePerHour * Math.max(t, 60_000)) / HOUR, 0.01);
}

/** The billing rule in words, for the estimate and the README. */
export function billingRule(provider: ProviderId): string {
  return provider === 'hetzner' ? 'Hetzner bills each started hour' : 'DigitalOcean bills per second, at least 60 s or $0.01';
}

export interface Estimate {
  perHour: number;
  total: number;
  currency: 'USD' | 'EUR';
  text: string;
}

/** N workers for `hours`: price/hour × N × hours, rounded as the provider bills. */
export function estimate(provider: ProviderId, size: Size, region: string, count: number, hours: number): Estimate {
  const price = priceIn(size, region);
  const total = count * billed(provider, price, hours * HOUR);
  const perHour = count * price;
  const text =
    `${count} × ${size.slug} at ${money(price, size.currency)}/h = ${money(perHour, size.currency)}/h; ` +
    `about ${money(total, size.currency)} for ${hoursText(hours)} (${billingRule(provider)}).`;
  return { perHour, total, currency: size.currency, text };
}

export const TABLE_HEADER = ['TYPE', 'CORES', 'RAM GiB', 'DISK GiB', 'PER HOUR'];

/** One row per server type available in the region, cheapest first: the shape of vps-worker's serverTypes. */
export function sizeRows(sizes: readonly Size[], region: string): string[][] {
  return availableSizes(sizes, region).map((s) => [s.slug, String(s.cpus), fmtNumber(s.memoryGiB), fmtNumber(s.diskGiB), money(priceIn(s, region), s.currency)]);
}

export function availableSizes(sizes: readonly Size[], region: string): Size[] {
  return sizes
    .filter((s) => s.regions.length === 0 || s.regions.includes(region))
    .sort((a, b) => priceIn(a, region) - priceIn(b, region) || a.cpus - b.cpus || a.slug.localeCompare(b.slug));
}

/** "4 cores · 16 GiB RAM · 160 GiB disk · €0.0330/h", for pickers. */
export function sizeSummary(s: Size, region: string): string {
  return `${s.cpus} core${s.cpus === 1 ? '' : 's'} · ${fmtNumber(s.memoryGiB)} GiB RAM · ${fmtNumber(s.diskGiB)} GiB disk · ${money(priceIn(s, region), s.currency)}/h`;
}

/** The bill after the run, from each worker's created-at to its destroy (kept ones: to now, and at most their deadline). */
export function costReport(
  provider: ProviderId,
  pricePerHour: number,
  currency: 'USD' | 'EUR',
  workers: readonly { name: string; ms: number; kept: boolean; msToDeadline?: number }[],
): CostReport {
  const lines: CostLine[] = workers.map((w) => ({ name: w.name, ms: w.ms, kept: w.kept, billed: billed(provider, pricePerHour, w.ms) }));
  const total = lines.reduce((a, l) => a + l.billed, 0);
  const anyKept = workers.some((w) => w.kept);
  // Kept workers run on until their deadline: the bill then is at most this.
  const keptUpperBound = anyKept ? workers.reduce((a, w) => a + billed(provider, pricePerHour, w.kept ? w.ms + Math.max(0, w.msToDeadline ?? 0) : w.ms), 0) : undefined;
  const longest = Math.max(0, ...lines.map((l) => l.ms));
  let text = lines.length
    ? `${lines.length} worker${lines.length === 1 ? '' : 's'} for up to ${durationText(longest)}: ${money(total, currency)} (${billingRule(provider)}).`
    : 'No worker was created: nothing to pay.';
  if (keptUpperBound !== undefined) text += ` Kept workers run on: at most ${money(keptUpperBound, currency)} in all if they live until their deadline.`;
  return { currency, pricePerHour, workers: lines, total, ...(keptUpperBound === undefined ? {} : { keptUpperBound }), text };
}

/** 45 s, 12 min, 1 h 05 min. */
export function durationText(ms: number): string {
  const s = Math.round(Math.max(0, ms) / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

function hoursText(hours: number): string {
  return hours < 1 ? `${Math.round(hours * 60)} min` : `${fmtNumber(hours)} h`;
}

function fmtNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
