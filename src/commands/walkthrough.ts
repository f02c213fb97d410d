// The walkthrough's own commands: Choose Binary Cache… (no cache, an existing S3 bucket with validated settings, or
// on DigitalOcean a Spaces bucket created for you) and Create Example Flake. See src/setup/walkthrough.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { bucketProblem, endpointProblem, publicUrlProblem } from '../setup/cache-form';
import { exampleFlake, WALKTHROUGH_KEYS } from '../setup/walkthrough';
import { checkSetup } from './setup';
import { setCacheCredentials } from './nix';
import { createSpacesCache } from './spaces';

const global = vscode.ConfigurationTarget.Global;

async function ask(title: string, prompt: string, value: string, validate: (v: string) => string | undefined): Promise<string | undefined> {
  const v = await vscode.window.showInputBox({ title, prompt, value, ignoreFocusOut: true, validateInput: validate });
  return v === undefined ? undefined : v.trim();
}

export async function chooseCache(ctx: Ctx, arg?: unknown): Promise<string | undefined> {
  const scripted = typeof arg === 'string' ? arg : undefined;
  const hasDo = (await ctx.tokens.configured()).includes('digitalocean');
  const choices = [
    { label: '$(remote) No binary cache', detail: 'Each closure is copied to its machine over SSH. Nothing to set up; needs Nix here.', id: 'none' },
    ...(hasDo
      ? [{ label: '$(cloud) Create a Spaces bucket on DigitalOcean', detail: 'A new bucket and a key limited to it, made with your DigitalOcean token.', id: 'spaces' }]
      : []),
    { label: '$(database) Use an existing S3-compatible bucket…', detail: 'Spaces, R2, B2, MinIO, AWS: endpoint, bucket and an access key.', id: 'existing' },
  ];
  const id = scripted ?? (await vscode.window.showQuickPick(choices, { title: 'Thebacknd: where do machines get their closures?', ignoreFocusOut: true }))?.id;
  if (!id) return undefined;
  const c = vscode.workspace.getConfiguration('thebacknd');
  if (id === 'none') {
    await c.update('cache.endpoint', undefined, global);
    await c.update('cache.publicUrl', undefined, global);
    await vscode.commands.executeCommand('setContext', 'thebacknd.setup.signingKey', true);
  } else if (id === 'spaces') {
    if (!(await createSpacesCache(ctx))) return undefined;
  } else if (id === 'existing') {
    if (!(await existingBucket(ctx))) return undefined;
  } else {
    return undefined;
  }
  await vscode.commands.executeCommand('setContext', WALKTHROUGH_KEYS.cacheChosen, true);
  return id;
}

async function existingBucket(ctx: Ctx): Promise<boolean> {
  const s = ctx.settings().cache;
  const endpoint = await ask('Thebacknd: cache endpoint (1/4)', 'The S3 endpoint, e.g. https://ams3.digitaloceanspaces.com', s.endpoint, endpointProblem);
  if (!endpoint) return false;
  const bucket = await ask('Thebacknd: cache bucket (2/4)', 'The bucket that holds the cache.', s.bucket, bucketProblem);
  if (!bucket) return false;
  const publicUrl = await ask('Thebacknd: public URL (3/4)', 'Where machines read the cache; empty = the endpoint and bucket, read anonymously.', s.publicUrl, publicUrlProblem);
  if (publicUrl === undefined) return false;
  if (!(await setCacheCredentials(ctx))) return false;
  const c = vscode.workspace.getConfiguration('thebacknd');
  await c.update('cache.endpoint', endpoint, global);
  await c.update('cache.bucket', bucket, global);
  await c.update('cache.publicUrl', publicUrl || undefined, global);
  // The real check of what was entered: a probe written, read back at the public URL and deleted.
  await checkSetup(ctx);
  return true;
}

/** Writes flake.nix and example.nix into the workspace (never over existing files) and opens the flake. */
export async function createExampleFlake(ctx: Ctx, arg?: unknown): Promise<string | undefined> {
  const folder = typeof arg === 'string' ? arg : vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath;
  if (!folder) {
    void vscode.window.showWarningMessage('Thebacknd: open a folder first; the example flake is written into it.');
    return undefined;
  }
  const flake = path.join(folder, 'flake.nix');
  const module = path.join(folder, 'example.nix');
  const clash = [flake, module].find((f) => fs.existsSync(f));
  if (clash) {
    void vscode.window.showWarningMessage(`Thebacknd: ${clash} already exists; nothing was written.`);
    return undefined;
  }
  const nixDir = path.join(ctx.extension.extensionPath, 'nix');
  fs.writeFileSync(module, fs.readFileSync(path.join(nixDir, 'example.nix'), 'utf8'));
  fs.writeFileSync(flake, exampleFlake(nixDir, ctx.settings().defaultProvider));
  await ctx.log('info', `Example flake written to ${flake}.`);
  if (typeof arg !== 'string') await vscode.window.showTextDocument(vscode.Uri.file(flake));
  return flake;
}
