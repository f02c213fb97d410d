// Import Base Image…: pick the cloud and the image file, import it with cancellable progress, keep the id in
// thebacknd.<provider>.image. The import itself is src/image (vscode-free, loaded only when this runs).
// `(ctx, provider?, file?, options?)`: the palette asks for both; other code and tests may pass them, and options
// ({ name?, hetzner? }: the image name and the Hetzner import's knobs, e.g. the rescue disk's device) for unusual
// setups and the integration tests.

import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { cacheCredentials } from './nix';
import { UserError } from '../base/errors';
import { defaultImagePath } from '../image/files';
import { PROVIDER_LABEL, PROVIDERS, TOKEN_ENV } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import type { ImportImageRequest } from '../image';

export interface ImportImageOptions {
  name?: string;
  hetzner?: ImportImageRequest['hetzner'];
}

const FILE_FILTERS: Record<ProviderId, Record<string, string[]>> = {
  digitalocean: { 'DigitalOcean image (qcow2)': ['gz', 'bz2', 'qcow2'] },
  hetzner: { 'Hetzner disk image (raw, zstd)': ['zst', 'img'] },
};

/** Resolves with the new image id, or undefined when dismissed. */
export async function importImage(ctx: Ctx, provider?: unknown, file?: unknown, options?: unknown): Promise<string | undefined> {
  const extra: ImportImageOptions = options && typeof options === 'object' ? (options as ImportImageOptions) : {};
  const p = isProvider(provider) ? provider : await pickProvider(ctx);
  if (!p) return undefined;
  const label = PROVIDER_LABEL[p];
  const token = (await ctx.tokens.get(p))?.token;
  if (!token) throw new UserError(`No ${label} token: set one first (or ${TOKEN_ENV[p]}).`, { kind: 'setToken', provider: p });
  // No image file passed and this computer's Nix cannot build x86_64-linux: offer to build it on a temporary server.
  const onWorker = typeof file === 'string' ? undefined : await offerWorker(ctx, p);
  if (onWorker === 'dismissed') return undefined;
  const image = onWorker ? '' : typeof file === 'string' ? file : await pickFile(p);
  if (!onWorker && !image) return undefined;
  const credentials = p === 'digitalocean' ? await cacheCredentials(ctx) : undefined;
  if (p === 'digitalocean' && !credentials) return undefined;

  const { importImage: run } = await import('../image');
  await ctx.log('info', `Importing ${onWorker ? 'the image built on a temporary server' : image} into ${label}.`);
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Thebacknd: importing the base image into ${label}`, cancellable: true },
    (progress, cancel) => {
      const ctl = new AbortController();
      const sub = cancel.onCancellationRequested(() => ctl.abort());
      let shown = 0;
      return run({
        provider: p,
        file: image ?? '',
        ...(typeof extra.name === 'string' ? { name: extra.name } : {}),
        ...(extra.hetzner ? { hetzner: extra.hetzner } : {}),
        ...(onWorker ? { buildOnWorker: { flakeDir: onWorker } } : {}),
        token,
        settings: ctx.settings(),
        credentials,
        signal: ctl.signal,
        log: (line) => void ctx.log('info', line),
        onStatus: (s) => {
          const pct = s.fraction === undefined ? shown : Math.round(100 * s.fraction);
          progress.report({ message: s.message, increment: Math.max(0, pct - shown) });
          shown = Math.max(shown, pct);
        },
      }).finally(() => sub.dispose());
    },
  );

  await vscode.workspace.getConfiguration('thebacknd').update(`${p}.image`, result.imageId, vscode.ConfigurationTarget.Global);
  await ctx.log('info', `${result.summary} Saved in ${result.setting}.`);
  for (const w of result.warnings) await ctx.log('warn', w);
  if (result.warnings.length) {
    void vscode.window.showWarningMessage(`Thebacknd: the image was imported, but ${result.warnings[0]}`, 'Show Log').then((a) => a && ctx.output.show(true));
  }
  void vscode.window.showInformationMessage(`Thebacknd: ${result.summary} New ${label} machines now start from it (${result.setting}).`);
  return result.imageId;
}

/** The image flake to build on a worker, undefined to pick a file, or 'dismissed'. */
async function offerWorker(ctx: Ctx, p: ProviderId): Promise<string | undefined | 'dismissed'> {
  const { localImageBuild } = await import('../image/local-build');
  const local = await localImageBuild();
  if (local.ok) return undefined;
  const build = 'Build on a Temporary Server';
  const pick = 'Choose an Image File…';
  const answer = await vscode.window.showInformationMessage(
    `Thebacknd: ${local.reason}, so the ${PROVIDER_LABEL[p]} base image cannot be built here. Build it on a temporary ${PROVIDER_LABEL[p]} server (stock Debian, destroyed afterwards) and import it from there?`,
    { modal: true },
    build,
    pick,
  );
  if (answer === pick) return undefined;
  if (answer !== build) return 'dismissed';
  await ctx.log('info', `Building the base image on a temporary server: ${local.reason}.`);
  return path.join(ctx.extension.extensionPath, 'nix');
}

function isProvider(v: unknown): v is ProviderId {
  return typeof v === 'string' && (PROVIDERS as readonly string[]).includes(v);
}

async function pickProvider(ctx: Ctx): Promise<ProviderId | undefined> {
  const s = ctx.settings();
  const items = await Promise.all(
    PROVIDERS.map(async (p) => ({
      label: PROVIDER_LABEL[p],
      description: (await ctx.tokens.source(p)) ? `current image: ${s[p].image || 'none'}` : 'no token set',
      detail:
        p === 'digitalocean'
          ? 'Uploads nixos.qcow2.gz to the cache bucket and imports it as a custom image.'
          : 'Writes nixos.img.zst to a temporary server in rescue mode, snapshots it, deletes the server.',
      p,
    })),
  );
  const pick = await vscode.window.showQuickPick(items, { title: 'Thebacknd: Import Base Image — which cloud?' });
  return pick?.p;
}

/** The build output in an open folder (result/…) is offered first. */
async function pickFile(p: ProviderId): Promise<string | undefined> {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  const candidates = folders.flatMap((f) => [defaultImagePath(f, p), defaultImagePath(path.join(f, 'nix'), p)]);
  const found = candidates.find((c) => fs.existsSync(c));
  const fallback = found ?? (folders[0] ? path.join(folders[0], 'result') : undefined);
  const picked = await vscode.window.showOpenDialog({
    title: `Thebacknd: ${PROVIDER_LABEL[p]} base image (nix build ./nix#${p}-image)`,
    canSelectFiles: true,
    canSelectFolders: false,
    canSelectMany: false,
    openLabel: 'Import',
    filters: FILE_FILTERS[p],
    ...(fallback ? { defaultUri: vscode.Uri.file(fallback) } : {}),
  });
  return picked?.[0]?.fsPath;
}
