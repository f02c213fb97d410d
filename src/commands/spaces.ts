// "Create a Spaces bucket on DigitalOcean" (from Choose Binary Cache…): asks region and bucket name, says what it
// costs, creates bucket and limited key (src/setup/spaces.ts), keeps the key in SecretStorage and sets the settings.
// Scripts and tests: executeCommand('thebacknd.createSpacesCache', { region, bucket, s3Endpoint? }).

import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { UserError } from '../base/errors';
import { bucketProblem, SPACES_REGIONS } from '../setup/cache-form';
import { createSpacesCache as create } from '../setup/spaces';
import { CREDENTIALS_SECRET } from './nix';

interface SpacesArgs {
  region: string;
  bucket: string;
  s3Endpoint?: string;
}

function isArgs(a: unknown): a is SpacesArgs {
  return !!a && typeof a === 'object' && typeof (a as SpacesArgs).region === 'string' && typeof (a as SpacesArgs).bucket === 'string';
}

export async function createSpacesCache(ctx: Ctx, arg?: unknown): Promise<boolean> {
  const token = await ctx.tokens.get('digitalocean');
  if (!token) throw new UserError('Creating a Spaces bucket needs a DigitalOcean token.', { kind: 'setToken', provider: 'digitalocean' });
  const settings = ctx.settings();
  let args: SpacesArgs | undefined = isArgs(arg) ? arg : undefined;
  if (!args) {
    const near = (SPACES_REGIONS as readonly string[]).includes(settings.digitalocean.region) ? settings.digitalocean.region : 'ams3';
    const region = (await vscode.window.showQuickPick([near, ...SPACES_REGIONS.filter((r) => r !== near)], { title: 'Thebacknd: Spaces region for the cache (1/2)' })) ?? undefined;
    if (!region) return false;
    const bucket = await vscode.window.showInputBox({
      title: 'Thebacknd: bucket name (2/2)',
      prompt: 'Bucket names are global across Spaces: make it yours.',
      value: `thebacknd-cache-${Math.random().toString(36).slice(2, 8)}`,
      ignoreFocusOut: true,
      validateInput: bucketProblem,
    });
    if (!bucket) return false;
    const go = await vscode.window.showInformationMessage(
      `Create the Spaces bucket "${bucket}" in ${region} and an access key limited to it? Spaces is billed by DigitalOcean (a monthly subscription once you have a bucket).`,
      { modal: true },
      'Create',
    );
    if (go !== 'Create') return false;
    args = { region, bucket: bucket.trim() };
  }
  const made = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Thebacknd: Spaces cache' }, (progress) =>
    create({
      token: token.token,
      ...(settings.digitalocean.endpoint ? { apiEndpoint: settings.digitalocean.endpoint } : {}),
      region: args.region,
      bucket: args.bucket,
      ...(args.s3Endpoint ? { s3Endpoint: args.s3Endpoint } : {}),
      onStep: (message) => progress.report({ message }),
    }),
  );
  await ctx.secrets.store(CREDENTIALS_SECRET, JSON.stringify(made.credentials));
  const c = vscode.workspace.getConfiguration('thebacknd');
  const target = vscode.ConfigurationTarget.Global;
  for (const [k, v] of Object.entries(made.cache)) await c.update(`cache.${k}`, v, target);
  await ctx.log(
    'info',
    `Spaces cache ready: bucket ${made.cache.bucket} at ${made.cache.endpoint}; key "${made.keyName}" (read/write on that bucket only) kept in secret storage.`,
  );
  return true;
}
