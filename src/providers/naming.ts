// Machine names: `thebacknd-N`, N the smallest free integer ≥ 1 among tagged machines (numbers are reused once a
// machine is gone, as in the original thebacknd). Names that just clashed are passed in as taken too.

import { TAG } from './types';

const NAME = new RegExp(`^${TAG}-([1-9][0-9]*)$`);

export function nameNumber(name: string): number | undefined {
  const m = NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function machineName(n: number): string {
  return `${TAG}-${n}`;
}

export function smallestFreeName(taken: Iterable<string>): string {
  const used = new Set<number>();
  for (const name of taken) {
    const n = nameNumber(name);
    if (n !== undefined) used.add(n);
  }
  let n = 1;
  while (used.has(n)) n++;
  return machineName(n);
}
