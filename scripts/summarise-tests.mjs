// Adds up the counts that the three test levels print (node:test "# pass N" / "# fail N" / "# cancelled N", mocha "N passing" /
// "N failing") and ends the CI log with one line "N passed, N failed". Exits non-zero when anything failed,
// when npm test itself failed, or when no test ran at all.
import fs from 'node:fs';

const [logFile, statusArg] = process.argv.slice(2);
const text = fs.readFileSync(logFile, 'utf8');
let passed = 0;
let failed = 0;
for (const m of text.matchAll(/^# pass (\d+)$/gm)) passed += Number(m[1]);
for (const m of text.matchAll(/^# (?:fail|cancelled) (\d+)$/gm)) failed += Number(m[1]);
for (const m of text.matchAll(/^\s*(\d+) passing\b/gm)) passed += Number(m[1]);
for (const m of text.matchAll(/^\s*(\d+) failing\b/gm)) failed += Number(m[1]);
const status = Number(statusArg ?? 1);
if (status !== 0 && failed === 0) failed = 1; // a crash before any count still fails the run
console.log(`${passed} passed, ${failed} failed`);
process.exit(status !== 0 || failed > 0 || passed === 0 ? 1 : 0);
