import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentLogParser, describeAgentEvent, isTerminal, parseAgentLine, parseFields } from '../../../src/agent/log';

// Lines as the agent prints them (captured from a run on a test host), one with a journal prefix.
const RUN = [
  'thebacknd: stage=metadata url=http://169.254.169.254 provider=digitalocean',
  'Nov 23 12:00:01 thebacknd-3 thebacknd-agent[812]: thebacknd: stage=keys host=ssh-ed25519 authorized=1',
  'thebacknd: stage=credentials wait=900s',
  'thebacknd: stage=cache url=http://10.213.178.109:44557/cache',
  'thebacknd: stage=fetch paths=0/3 bytes=0/301302',
  'thebacknd: stage=fetch paths=2/3 bytes=300841/301302',
  'thebacknd: stage=profile path=/nix/var/nix/profiles/system',
  'thebacknd: stage=switch toplevel=/nix/store/kkrl8vi6hp1r4lq7i0fk7a620p0kljpc-nixos-system-thebacknd-test',
  'activation finished',
  'thebacknd: stage=done result=switched toplevel=/nix/store/kkrl8vi6hp1r4lq7i0fk7a620p0kljpc-nixos-system-thebacknd-test',
];

test('stage lines become typed events, other lines are skipped', () => {
  const events = RUN.map(parseAgentLine).filter((e) => e !== undefined);
  assert.deepEqual(
    events.map((e) => e.stage),
    ['metadata', 'keys', 'credentials', 'cache', 'fetch', 'fetch', 'profile', 'switch', 'done'],
  );
  assert.deepEqual(events[1], { stage: 'keys', hostKey: 'ssh-ed25519', authorizedKeys: 1 });
  assert.deepEqual(events[2], { stage: 'credentials', waitSeconds: 900 });
  assert.deepEqual(events[5], { stage: 'fetch', done: 2, total: 3, bytesDone: 300841, bytesTotal: 301302 });
  assert.equal(describeAgentEvent(events[5]!), 'Fetching paths 2/3 (0.3 MiB of 0.3 MiB)');
  const last = events[events.length - 1]!;
  assert.ok(isTerminal(last));
  assert.deepEqual(last, { stage: 'done', result: 'switched', toplevel: '/nix/store/kkrl8vi6hp1r4lq7i0fk7a620p0kljpc-nixos-system-thebacknd-test' });
  assert.equal(parseAgentLine('activation finished'), undefined);
  assert.equal(parseAgentLine('thebacknd: hello'), undefined);
});

test('quoted values keep spaces, quotes and backslashes', () => {
  const line = `thebacknd: stage=failed reason=bad-user-data message="unsupported user-data version '2' (say \\"hi\\" \\\\ bye)" path=/x`;
  assert.deepEqual(parseAgentLine(line), {
    stage: 'failed',
    reason: 'bad-user-data',
    message: `unsupported user-data version '2' (say "hi" \\ bye)`,
    path: '/x',
    url: undefined,
  });
  assert.deepEqual(parseFields('thebacknd: stage=x a= b="" c=d'), { stage: 'x', a: '', b: '', c: 'd' });
});

test('an unknown stage from a newer image is kept, not dropped', () => {
  assert.deepEqual(parseAgentLine('thebacknd: stage=resize disk=/dev/sda'), { stage: 'other', name: 'resize', fields: { disk: '/dev/sda' } });
});

test('the stream parser joins lines split across chunks', () => {
  const seen: string[] = [];
  const p = new AgentLogParser((ev) => seen.push(ev.stage));
  const text = RUN.join('\n') + '\nthebacknd: stage=poweroff exit=3';
  for (let i = 0; i < text.length; i += 7) p.push(text.slice(i, i + 7));
  assert.equal(seen.length, 9, 'the last line has no newline yet');
  p.end();
  assert.equal(seen.length, 10);
  assert.deepEqual(p.last, { stage: 'poweroff', exitCode: 3 });
  assert.ok(isTerminal(p.last!));
});
