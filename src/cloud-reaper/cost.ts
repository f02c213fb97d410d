// What the cloud reaper costs a month on DigitalOcean Functions, against the free allowance.
// Source: https://www.digitalocean.com/pricing/functions (read 2026-12): 90,000 GiB-seconds of compute free per month
// per account (not prorated, no roll-over), $0.0000185 per GiB-second beyond, 100 ms minimum run time per invocation.
// Scheduled triggers carry no separate charge there. The seed measured destroy-old at under 300 ms, sometimes up to
// its 3 s timeout: the estimate takes 3 s per run, the worst it saw.

export const FREE_GIB_SECONDS_PER_MONTH = 90_000;
export const USD_PER_GIB_SECOND = 0.0000185;
export const MIN_RUN_SECONDS = 0.1;
/** What each action is deployed with. */
export const ACTION_MEMORY_MB = 256;
export const ASSUMED_RUN_SECONDS = 3;
/** How often a machine's agent checks in with destroy-self ("only if due"). */
export const CHECKIN_MINUTES = 5;

const MINUTES_PER_MONTH = 30 * 24 * 60;

export interface ReaperCost {
  intervalMinutes: number;
  /** Scheduled destroy-old runs a month. */
  activationsPerMonth: number;
  gibSecondsPerMonth: number;
  /** Share of the free allowance the schedule uses (0.018 = 1.8 %). */
  shareOfFreeAllowance: number;
  /** USD a month if nothing else used the allowance: 0 inside it. */
  usdPerMonth: number;
  /** USD a month if the allowance were already used up by other functions. */
  usdPerMonthWithoutAllowance: number;
  /** Agent check-ins: GiB-seconds per machine-hour, and how many machine-hours the whole allowance covers. */
  checkinGibSecondsPerMachineHour: number;
}

export function reaperCost(intervalMinutes: number, runSeconds = ASSUMED_RUN_SECONDS, memoryMb = ACTION_MEMORY_MB): ReaperCost {
  const activationsPerMonth = Math.round(MINUTES_PER_MONTH / intervalMinutes);
  const perRun = (memoryMb / 1024) * Math.max(MIN_RUN_SECONDS, runSeconds);
  const gibSecondsPerMonth = activationsPerMonth * perRun;
  return {
    intervalMinutes,
    activationsPerMonth,
    gibSecondsPerMonth,
    shareOfFreeAllowance: gibSecondsPerMonth / FREE_GIB_SECONDS_PER_MONTH,
    usdPerMonth: Math.max(0, gibSecondsPerMonth - FREE_GIB_SECONDS_PER_MONTH) * USD_PER_GIB_SECOND,
    usdPerMonthWithoutAllowance: gibSecondsPerMonth * USD_PER_GIB_SECOND,
    checkinGibSecondsPerMachineHour: (60 / CHECKIN_MINUTES) * perRun,
  };
}

/** Lines for the CLI and the VS Code command. */
export function describeCost(c: ReaperCost): string[] {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)} %`;
  return [
    `Cost: destroy-old every ${c.intervalMinutes} min is about ${n(c.activationsPerMonth)} activations a month, at most ${n(c.gibSecondsPerMonth)} GiB-s ` +
      `(${ACTION_MEMORY_MB} MB × ${ASSUMED_RUN_SECONDS} s each): ${pct(c.shareOfFreeAllowance)} of DigitalOcean Functions' free ${n(FREE_GIB_SECONDS_PER_MONTH)} GiB-s a month, ` +
      `so $${c.usdPerMonth.toFixed(2)} a month (or $${c.usdPerMonthWithoutAllowance.toFixed(2)} if other functions already use up the allowance).`,
    `Each running machine checks in every ${CHECKIN_MINUTES} min: at most ${c.checkinGibSecondsPerMachineHour.toFixed(1)} GiB-s per machine-hour, ` +
      `so the free allowance covers about ${n(FREE_GIB_SECONDS_PER_MONTH / c.checkinGibSecondsPerMachineHour)} machine-hours a month.`,
  ];
}
