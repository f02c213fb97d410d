// The destroy-old schedule: `reapIntervalMinutes` as a cron expression DigitalOcean's scheduled triggers accept, and
// when such a schedule fires next. Only intervals that divide the hour (or the day, in whole hours) keep an even
// period: `*/25` would fire at :00, :25, :50 and again at :00, ten minutes later.

import { UserError } from '../base/errors';

const MINUTE_STEPS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12];

/** `*\/20 * * * *` for 20; `0 *\/2 * * *` for 120. Throws a UserError naming the nearest valid periods. */
export function cronFor(intervalMinutes: number): string {
  const n = intervalMinutes;
  if (Number.isInteger(n) && MINUTE_STEPS.includes(n)) return n === 1 ? '* * * * *' : `*/${n} * * * *`;
  if (Number.isInteger(n) && n % 60 === 0 && HOUR_STEPS.includes(n / 60)) return n === 60 ? '0 * * * *' : `0 */${n / 60} * * *`;
  const valid = [...MINUTE_STEPS, ...HOUR_STEPS.map((h) => h * 60)];
  const below = valid.filter((v) => v < n).pop();
  const above = valid.find((v) => v > n);
  const near = [below, above].filter((v): v is number => v !== undefined).join(' or ');
  throw new UserError(`A reaper period of ${n} minutes does not divide the hour or the day evenly: use ${near} (thebacknd.reapIntervalMinutes).`);
}

/** The first time after `from` that a cron of cronFor()'s forms fires (UTC); undefined for other forms. */
export function nextCronRun(cron: string, from: Date): Date | undefined {
  const every = /^(?:\*\/(\d+)|\*) \* \* \* \*$/.exec(cron);
  const hourly = /^0 (?:\*\/(\d+)|\*) \* \* \*$/.exec(cron);
  const stepMs = every ? Number(every[1] ?? 1) * 60_000 : hourly ? Number(hourly[1] ?? 1) * 3_600_000 : undefined;
  if (!stepMs) return undefined;
  const dayStart = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  const next = dayStart + (Math.floor((from.getTime() - dayStart) / stepMs) + 1) * stepMs;
  return new Date(next);
}
