// The package a user installs: `npm run package` makes dist-vsix/thebacknd.vsix, code-server installs it with
// --install-extension (no development mode), VS Code activates it, and its view and commands work from there.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot } from '../runners/codeServer';
import { openWorkbench, type Workbench } from './workbench';

const vsix = path.join(repoRoot, 'dist-vsix', 'thebacknd.vsix');

describe('the packaged extension (.vsix) in code-server', () => {
  let wb: Workbench | undefined;

  before(() => {
    fs.rmSync(vsix, { force: true });
  });

  after(async () => {
    await wb?.close();
  });

  // In a test rather than a hook: a failing hook only cancels tests, and cancelled tests are not counted as failed.
  test('npm run package writes dist-vsix/thebacknd.vsix', () => {
    const r = spawnSync('npm', ['run', 'package'], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-20).join('\n');
    assert.equal(r.status, 0, `npm run package failed (exit ${r.status}):\n${out}`);
    assert.ok(fs.existsSync(vsix), `${vsix} was not written`);
    // A .vsix is a zip: "PK\x03\x04".
    assert.equal(fs.readFileSync(vsix).subarray(0, 4).toString('latin1'), 'PK\x03\x04');
  });

  test('installs with --install-extension and activates, its view and commands working', async () => {
    assert.ok(fs.existsSync(vsix), 'no .vsix to install (npm run package failed)');
    wb = await openWorkbench({ devExtension: false, vsix: [vsix] });
    const w = wb;
    await w.step('vsix', async () => {
      const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
      const installed = fs.readdirSync(w.server.extensionsDir);
      assert.ok(installed.includes(`thebacknd.thebacknd-${manifest.version}`), `installed: ${installed.join(', ')}`);
      // ssh2 and the AWS SDK ship as files of their own, loaded on first use: they are in the package, and work.
      const vendor = path.join(w.server.extensionsDir, `thebacknd.thebacknd-${manifest.version}`, 'dist', 'vendor');
      const ssh2 = require(path.join(vendor, 'ssh2.js')) as { Client?: unknown };
      const aws = require(path.join(vendor, 'aws.js')) as { s3?: { S3Client?: unknown }; storage?: { Upload?: unknown }; presigner?: { getSignedUrl?: unknown } };
      assert.equal(typeof ssh2.Client, 'function', 'dist/vendor/ssh2.js exports the ssh2 Client');
      assert.equal(typeof aws.s3?.S3Client, 'function', 'dist/vendor/aws.js exports the S3 client');
      assert.equal(typeof aws.storage?.Upload, 'function');
      assert.equal(typeof aws.presigner?.getSignedUrl, 'function');

      const sidebar = await w.openThebacknd();
      await sidebar.getByText('No cloud token is set.', { exact: false }).waitFor({ state: 'visible' });
      await w.activated();
      // The installed copy, not the repo's in development mode (whose window says so in its title).
      assert.doesNotMatch(await w.page.title(), /Extension Development Host/);

      await w.runCommand('Thebacknd: Set Token…');
      await w.quickInput.getByText('Thebacknd: Set Token', { exact: true }).waitFor({ state: 'visible' });
      await w.screenshot('vsix-installed');
      await w.page.keyboard.press('Escape');
    });
  });
});
