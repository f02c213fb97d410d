// Which cloud: the key of tokens, settings and every provider table. On the ground floor, so that the layers
// below src/providers/ (tokens, settings) can name a provider without importing the provider model.

export type ProviderId = 'digitalocean' | 'hetzner';
