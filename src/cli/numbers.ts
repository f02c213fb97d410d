// Numbers from the command line: plain decimal digits only. `Number()` alone reads `0x10` as 16, `1e3` as 1000 and
// `" 7 "` as 7, so a typo could give a machine hours more than asked.

import { UsageError } from './args';

/** A whole decimal number within [min, max], or a UsageError that names the bounds. */
export function wholeNumber(text: string, what: string, min: number, max: number): number {
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${what} must be a whole number from ${min} to ${max} (got "${text}").`);
  return n;
}

/** A decimal number (digits, optionally one point and more digits) within [min, max]. */
export function decimalNumber(text: string, what: string, min: number, max: number): number {
  const n = /^\d{1,6}(\.\d{1,6})?$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${what} must be a number from ${min} to ${max}, like 1.5 (got "${text}").`);
  return n;
}
