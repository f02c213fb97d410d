// Another extension can call `thebacknd.runToplevel` or `thebacknd.buildOnWorkers` with arguments: that creates
// paid machines without a single click of the user's. Outside the extension's own tests, the user is asked first.

export type Mode = 'production' | 'development' | 'test';

/** The question to ask before a scripted call creates machines, or undefined when none is needed (tests). */
export function scriptedConsentQuestion(mode: Mode, what: string): string | undefined {
  if (mode === 'test') return undefined;
  return `Another extension asks Thebacknd to create paid cloud machines: ${what}. They are billed until destroyed (at the latest at their deadline). Allow it?`;
}

export const ALLOW = 'Create Machines';
