// Test hosts never outlive the test process that made them: removed at exit even after an uncaught failure or a
// SIGTERM, and reaped by the next run when the process was SIGKILLed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { ip, reapStaleSync } from '../../fixtures/testhost/net';

const CHILD = path.resolve(__dirname, '../../fixtures/testhost/crash-child.js');

interface Child {
  info: { ns: string; root: string; ip: string };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(sig: NodeJS.Signals): void;
}

async function startChild(mode: 'throw' | 'hang'): Promise<Child> {
  const child = spawn(process.execPath, [CHILD, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    void exited.then((e) => reject(new Error(`child exited early: ${JSON.stringify(e)}`)));
  });
  return { info: JSON.parse(line) as Child['info'], exited, kill: (sig) => child.kill(sig) };
}

async function namespaceExists(ns: string): Promise<boolean> {
  return (await ip('netns', 'list')).split('\n').some((l) => l.split(' ')[0] === ns);
}

async function linksOf(addr: string): Promise<number> {
  return (await ip('-o', 'addr', 'show')).split('\n').filter((l) => l.includes(` ${addr.replace(/\.\d+$/, '.')}`)).length;
}

test('a test process that dies of an uncaught error removes its hosts', async () => {
  const child = await startChild('throw');
  const exit = await child.exited;
  assert.equal(exit.code, 1);
  assert.equal(await namespaceExists(child.info.ns), false);
  assert.equal(fs.existsSync(child.info.root), false, 'the host root is gone');
  assert.equal(await linksOf(child.info.ip), 0, 'the veth is gone');
});

test('a test process stopped by SIGTERM removes its hosts', async () => {
  const child = await startChild('hang');
  assert.ok(await namespaceExists(child.info.ns));
  child.kill('SIGTERM');
  await child.exited;
  assert.equal(await namespaceExists(child.info.ns), false);
  assert.equal(fs.existsSync(child.info.root), false);
});

test('hosts of a SIGKILLed test process are reaped by the next one', async () => {
  const child = await startChild('hang');
  child.kill('SIGKILL');
  await child.exited;
  assert.ok(await namespaceExists(child.info.ns), 'SIGKILL leaves the namespace behind');
  reapStaleSync();
  assert.equal(await namespaceExists(child.info.ns), false);
  assert.equal(await linksOf(child.info.ip), 0);
  assert.equal(fs.existsSync(child.info.root), false);
});
