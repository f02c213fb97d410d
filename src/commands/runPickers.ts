// The questions Run Toplevel asks: what to run (a nixosConfiguration of the open flake, a store path, a program
// inside one, or the bare base image), then the provider, region and size with the price per hour. The last
// placement is remembered in globalState and offered first next time.

import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { UserError } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import { checkNix, flakeRef, listNixosConfigurations, parseStorePath } from '../nix';
import type { CloudProvider, ProviderId } from '../providers/types';
import type { Payload, Placement } from '../run/types';
import { asyncPick, pickFlake, pickSize } from './wizard';

const LAST_PLACEMENT = 'thebacknd.run.lastPlacement';
const LAST_STORE_PATH = 'thebacknd.run.lastStorePath';

type PayloadItem = vscode.QuickPickItem & { payload?: Payload | 'toplevel' | 'binary' };

/** What to run. The flake's configurations load while the other choices are already shown. */
export async function pickPayload(ctx: Ctx, overSsh: boolean): Promise<Payload | undefined> {
  const flakeDir = await pickFlake({ title: 'Thebacknd: Run Toplevel — which flake?' });
  if (flakeDir === undefined) return undefined;
  const qp = vscode.window.createQuickPick<PayloadItem>();
  qp.title = 'Thebacknd: Run Toplevel (1/4) — what should the machine run?';
  qp.placeholder = flakeDir ? `NixOS configurations of ${path.basename(flakeDir)}, or another choice` : 'No flake.nix in the open folders';
  qp.matchOnDescription = true;
  const others: PayloadItem[] = [
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    {
      label: overSsh ? '$(package) A toplevel store path…' : '$(package) A toplevel already in the cache…',
      description: overSsh ? 'copied over SSH, then switched to' : 'switched to from the binary cache',
      payload: 'toplevel',
    },
    { label: '$(terminal) A program inside a store path…', description: 'runs it, then the machine powers off and is reaped', payload: 'binary' },
    { label: '$(vm) Nothing — the bare base image', description: 'a plain Thebacknd NixOS machine', payload: { kind: 'bare' } },
  ];
  qp.items = others.slice(1);
  const load = async (): Promise<void> => {
    if (!flakeDir) return;
    qp.busy = true;
    try {
      await checkNix({ cwd: flakeDir });
      const flake = flakeRef(flakeDir);
      const names = await listNixosConfigurations(flake, { cwd: flakeDir });
      const configs: PayloadItem[] = names.map((name) => ({
        label: `$(symbol-class) ${name}`,
        description: `nixosConfigurations.${name} · build${overSsh ? ', copy over SSH' : ', sign, push'}`,
        payload: { kind: 'configuration', flakeRef: flake, name },
      }));
      if (!names.length) configs.push({ label: '$(info) This flake has no nixosConfigurations', description: '', alwaysShow: true });
      qp.items = [...configs, ...others];
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      qp.items = [{ label: '$(warning) Could not list the configurations', description: why, alwaysShow: true }, ...others];
    } finally {
      qp.busy = false;
    }
  };
  const picked = await new Promise<PayloadItem | undefined>((resolve) => {
    qp.onDidAccept(() => {
      const item = qp.selectedItems[0];
      if (item?.payload) resolve(item);
    });
    qp.onDidHide(() => resolve(undefined));
    qp.show();
    void load();
  });
  qp.dispose();
  if (!picked?.payload) return undefined;
  if (picked.payload === 'toplevel' || picked.payload === 'binary') return askStorePath(ctx, picked.payload, overSsh);
  return picked.payload;
}

async function askStorePath(ctx: Ctx, kind: 'toplevel' | 'binary', overSsh: boolean): Promise<Payload | undefined> {
  const last = ctx.extension.globalState.get<string>(LAST_STORE_PATH);
  const typed = await vscode.window.showInputBox({
    title: kind === 'toplevel' ? 'Thebacknd: Run Toplevel — the toplevel store path' : 'Thebacknd: Run Toplevel — the program to run',
    prompt:
      kind === 'toplevel'
        ? `A NixOS toplevel${overSsh ? ' in the local store' : ' already pushed to the cache'}: /nix/store/<hash>-nixos-system-…`
        : 'A program inside a store path: /nix/store/<hash>-name/bin/program. The machine powers off when it exits.',
    value: last ?? '/nix/store/',
    ignoreFocusOut: true,
    validateInput: (v) => {
      const r = parseStorePath(v.trim());
      if (!r.ok) return `Not a store path: ${r.reason}.`;
      if (kind === 'toplevel' && r.value.kind !== 'toplevel') return 'A toplevel is a store path itself, without a path inside it.';
      if (kind === 'binary' && r.value.kind !== 'binary') return 'Name the program inside the store path, e.g. …/bin/hello.';
      return undefined;
    },
  });
  if (!typed) return undefined;
  const r = parseStorePath(typed.trim());
  if (!r.ok) return undefined;
  await ctx.extension.globalState.update(LAST_STORE_PATH, typed.trim());
  return r.value.kind === 'binary' ? { kind: 'binary', storePath: r.value.storePath, binary: r.value.path } : { kind: 'toplevel', storePath: r.value.storePath };
}

/** A payload given by a script (the command's argument), checked as strictly as typed input. */
export function checkPayload(p: unknown): Payload {
  const o = (p ?? {}) as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : '');
  switch (o.kind) {
    case 'bare':
      return { kind: 'bare' };
    case 'configuration':
      if (!str('flakeRef') || !str('name')) throw new UserError('A configuration payload needs flakeRef and name.');
      return { kind: 'configuration', flakeRef: str('flakeRef'), name: str('name') };
    case 'installable':
      if (!str('installable')) throw new UserError('An installable payload needs installable.');
      return { kind: 'installable', installable: str('installable') };
    case 'toplevel': {
      const r = parseStorePath(str('storePath'));
      if (!r.ok || r.value.kind !== 'toplevel') throw new UserError(`"${str('storePath')}" is not a toplevel store path.`);
      return { kind: 'toplevel', storePath: r.value.storePath };
    }
    case 'binary': {
      const full = str('binary').startsWith('/') ? str('binary') : `${str('storePath')}/${str('binary')}`;
      const r = parseStorePath(full);
      if (!r.ok || r.value.kind !== 'binary') throw new UserError(`"${full}" is not a program inside a store path.`);
      return { kind: 'binary', storePath: r.value.storePath, binary: r.value.path };
    }
    default:
      throw new UserError(`Unknown payload kind ${JSON.stringify(o.kind)}: use configuration, installable, toplevel, binary or bare.`);
  }
}

interface LastPlacement {
  provider: ProviderId;
  region: string;
  size: string;
}

/** Provider (only those with a token), then region and size with the price per hour. */
export async function pickPlacement(ctx: Ctx): Promise<Omit<Placement, 'image'> | undefined> {
  const machines = ctx.machines;
  const last = ctx.extension.globalState.get<LastPlacement>(LAST_PLACEMENT);
  const withToken = machines.service
    .snapshot()
    .filter((p) => p.tokenSource)
    .map((p) => p.id);
  if (!withToken.length) {
    const p = ctx.settings().defaultProvider;
    throw new UserError(`No cloud token is set: Run Toplevel needs a ${PROVIDER_LABEL[p]} or Hetzner token.`, { kind: 'setToken', provider: p });
  }
  let providerId = withToken[0]!;
  if (withToken.length > 1) {
    const first = last?.provider ?? ctx.settings().defaultProvider;
    const items = [...withToken]
      .sort((a, b) => Number(b === first) - Number(a === first))
      .map((id) => ({ label: PROVIDER_LABEL[id], description: id === last?.provider ? 'last used' : '', id }));
    const pick = await vscode.window.showQuickPick(items, { title: 'Thebacknd: Run Toplevel (2/4) — which cloud?' });
    if (!pick) return undefined;
    providerId = pick.id;
  }
  const provider = await machines.service.provider(providerId);
  const s = ctx.settings()[providerId];
  const lastHere = last?.provider === providerId ? last : undefined;
  const why = lastHere ? 'last used' : 'the setting';
  const region = await pickRegion(provider, lastHere?.region ?? s.region, why);
  if (!region) return undefined;
  const size = await pickSize({
    title: `Thebacknd: Run Toplevel (4/4) — machine size in ${region} (price per hour)`,
    provider: providerId,
    region,
    prefer: lastHere?.size ?? s.size,
    why,
    sizes: () => provider.sizes(),
  });
  if (!size) return undefined;
  const placement = { provider: providerId, region, size: size.slug };
  await ctx.extension.globalState.update(LAST_PLACEMENT, placement);
  return placement;
}

async function pickRegion(provider: CloudProvider, prefer: string, why: string): Promise<string | undefined> {
  const pick = await asyncPick(`Thebacknd: Run Toplevel (3/4) — ${PROVIDER_LABEL[provider.id]} region`, async () => {
    const regions = (await provider.regions()).filter((r) => r.available);
    if (!regions.length) throw new UserError(`${PROVIDER_LABEL[provider.id]} offers no region right now.`);
    return regions
      .map((r) => ({ label: r.slug, description: `${r.name}${r.slug === prefer ? ` · ${why}` : ''}`, picked: r.slug === prefer, slug: r.slug }))
      .sort((a, b) => Number(b.picked) - Number(a.picked));
  });
  return pick?.slug;
}

/** The base image: the setting, else the newest image named thebacknd* on the account. */
export async function baseImage(ctx: Ctx, provider: CloudProvider): Promise<string> {
  const set = ctx.settings()[provider.id].image.trim();
  if (set) return set;
  const images = (await provider.images()).filter((i) => i.kind !== 'distribution' && /^thebacknd/i.test(i.name));
  images.sort((a, b) => a.name.localeCompare(b.name));
  const newest = images.at(-1);
  if (!newest) {
    throw new UserError(`No Thebacknd base image on ${PROVIDER_LABEL[provider.id]}: run "Thebacknd: Import Base Image…" or set thebacknd.${provider.id}.image.`, {
      kind: 'openSettings',
      setting: `thebacknd.${provider.id}.image`,
    });
  }
  return newest.id;
}
