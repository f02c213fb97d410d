// The machine panel's model: the timeline a person reads (run stages and the agent's stage lines, each with its
// time and its outcome) and the bounded log tail the webview receives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOG_TAIL, PanelModel, parseFromWebview } from '../../../src/views/panelModel';
import type { RunEvent, Stage } from '../../../src/run/types';

const at = (s: number) => new Date(Date.UTC(2026, 10, 23, 12, 0, s));
const stage = (s: Stage, sec: number, detail?: string): RunEvent => ({ type: 'stage', stage: s, at: at(sec), ...(detail ? { detail } : {}) });
const rows = (m: PanelModel) => m.state.timeline.map((t) => `${t.state} ${t.key}`);

test('run stages and agent lines make one timeline; the latest is active, the others done, each with its time', () => {
  const m = new PanelModel('new machine', 'thebacknd-x');
  m.apply(stage('keys', 1));
  m.apply(stage('create', 2, 'digitalocean ams3 s-1vcpu-1gb'));
  m.apply(stage('boot', 5));
  m.apply({ type: 'log', line: 'thebacknd: stage=metadata url=http://169.254.169.254 provider=digitalocean' });
  m.apply({ type: 'log', line: 'copying path …' });
  assert.deepEqual(rows(m), ['done run:keys', 'done run:create', 'done run:boot', 'active agent:metadata']);
  assert.equal(m.state.status, 'running');
  assert.equal(m.state.timeline[1]!.at, at(2).toISOString());
  assert.equal(m.state.timeline[1]!.detail, 'digitalocean ams3 s-1vcpu-1gb');
  assert.equal(m.state.timeline[3]!.label, 'Agent: Reading user-data from the metadata service');
  assert.deepEqual(m.log, ['thebacknd: stage=metadata url=http://169.254.169.254 provider=digitalocean', 'copying path …']);
});

test('repeated fetch lines update one entry in place; done and ready end the timeline as done', () => {
  const m = new PanelModel('x');
  m.apply(stage('boot', 1));
  m.line('thebacknd: stage=fetch paths=1/3');
  m.line('thebacknd: stage=fetch paths=3/3');
  assert.deepEqual(rows(m), ['done run:boot', 'active agent:fetch']);
  assert.equal(m.state.timeline[1]!.label, 'Agent: Fetching paths 3/3');
  m.line('thebacknd: stage=done result=switched toplevel=/nix/store/00000000000000000000000000000000-t');
  m.apply(stage('ready', 9, 'thebacknd-1'));
  m.finish('ready', 'thebacknd-1 switched');
  assert.deepEqual(rows(m), ['done run:boot', 'done agent:fetch', 'done agent:done', 'done run:ready']);
  assert.equal(m.state.status, 'ready');
});

test('an agent failure marks the boot and the failure failed; the cleanup that follows ends done', () => {
  const m = new PanelModel('x');
  m.apply(stage('boot', 1));
  m.line('thebacknd: stage=failed reason=missing-path message="not in the cache" path=/nix/store/00000000000000000000000000000000-x');
  m.apply(stage('cleanup', 3, 'thebacknd-1'));
  m.finish('failed', 'thebacknd-1: boot failed');
  assert.deepEqual(rows(m), ['failed run:boot', 'failed agent:failed', 'done run:cleanup']);
  assert.equal(m.state.status, 'failed');
  assert.equal(m.state.message, 'thebacknd-1: boot failed');
});

test('a stage interrupted by a failure or a cancel is marked failed, not done', () => {
  const m = new PanelModel('x');
  m.apply(stage('wait-ssh', 1, '10.0.0.2'));
  m.apply(stage('cleanup', 2));
  m.finish('cancelled', 'Cancelled');
  assert.deepEqual(rows(m), ['failed run:wait-ssh', 'done run:cleanup']);
  const n = new PanelModel('y');
  n.apply(stage('build', 1));
  n.finish('failed', 'build failed');
  assert.deepEqual(rows(n), ['failed run:build']);
});

test('the log is a bounded tail; the webview gets only new lines, or a reset', () => {
  const m = new PanelModel('x');
  for (let i = 0; i < LOG_TAIL + 5; i++) m.line(`line ${i}`);
  assert.equal(m.log.length, LOG_TAIL);
  assert.equal(m.log[0], 'line 5');
  const first = m.takeNewLines();
  assert.equal(first.lines.length, LOG_TAIL);
  assert.equal(first.reset, false);
  m.line('next');
  assert.deepEqual(m.takeNewLines(), { lines: ['next'], reset: false });
  m.clearLog();
  m.line('again');
  assert.deepEqual(m.takeNewLines(), { lines: ['again'], reset: true });
  assert.deepEqual(m.log, ['again']);
});

test('listeners hear every change', () => {
  const m = new PanelModel('x');
  let n = 0;
  const sub = m.onDidChange(() => n++);
  m.apply(stage('keys', 1));
  m.line('plain line');
  m.update({ hasKeys: true });
  sub.dispose();
  m.update({ hasKeys: false });
  assert.equal(n, 3);
});

test('a webview message is read only when it has the shape the panel posts; an inherited key is no action', () => {
  const report = { timeline: ['done keys'], logLines: 3, status: 'running', cost: '$0.01', countdown: '59 min', buttons: ['destroy'] };
  assert.deepEqual(parseFromWebview({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseFromWebview({ type: 'action', action: 'destroy' }), { type: 'action', action: 'destroy' });
  assert.deepEqual(parseFromWebview({ type: 'rendered', report }), { type: 'rendered', report });
  for (const action of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 42, undefined])
    assert.equal(parseFromWebview({ type: 'action', action }), undefined, String(action));
  for (const bad of [null, 'ready', 7, [], { type: 'rendered', report: { ...report, buttons: 'destroy' } }, { type: 'rendered' }, { type: 'other' }])
    assert.equal(parseFromWebview(bad), undefined, JSON.stringify(bad));
});
