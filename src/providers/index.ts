// The one way to get a CloudProvider: `createProvider('hetzner', { token, endpoint })`.

import { DigitalOceanProvider } from './digitalocean';
import { HetznerProvider } from './hetzner';
import type { ProviderOptions } from './options';
import type { CloudProvider, ProviderId } from './types';

export type { ProviderOptions } from './options';
export type { RetryOptions } from './retry';

export function createProvider(id: ProviderId, opts: ProviderOptions): CloudProvider {
  switch (id) {
    case 'digitalocean':
      return new DigitalOceanProvider(opts);
    case 'hetzner':
      return new HetznerProvider(opts);
  }
}
