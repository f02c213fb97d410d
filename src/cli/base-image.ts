// Which Thebacknd base image a CLI machine boots when --image is not given: $THEBACKND_DO_IMAGE /
// $THEBACKND_HCLOUD_IMAGE, else the setting, else the account's only Thebacknd image (an imported custom image or
// snapshot whose name starts with "thebacknd"). Several, or none, is a clear error that lists what there is.
import { UserError } from '../base/errors';
import type { Settings } from '../base/settings';
import { PROVIDER_LABEL } from '../base/tokens';
import type { CloudProvider, Image } from '../providers/types';
import { IMAGE_ENV } from './placement';

export function isThebackndImage(i: Image): boolean {
  return (i.kind === 'custom' || i.kind === 'snapshot') && /^thebacknd/i.test(i.name) && (i.status === undefined || i.status === 'available');
}

export async function baseImage(provider: CloudProvider, explicit: string | undefined, env: NodeJS.ProcessEnv, settings: Settings, signal?: AbortSignal): Promise<string> {
  const configured = explicit || env[IMAGE_ENV[provider.id]] || settings[provider.id].image;
  if (configured) return configured;
  const own = (await provider.images(signal)).filter(isThebackndImage);
  if (own.length === 1) return own[0]!.id;
  const label = PROVIDER_LABEL[provider.id];
  const how = `pass --image ID or set $${IMAGE_ENV[provider.id]}`;
  if (!own.length) throw new UserError(`No Thebacknd base image in this ${label} account: import one (thebacknd import-image), or ${how}.`);
  throw new UserError(`This ${label} account has ${own.length} Thebacknd images (${own.map((i) => `${i.id} "${i.name}"`).join(', ')}): ${how}.`);
}
