// The Hetzner image import both image test files ask for: the emulator's API with fast retries and polls, the
// rescue test host's disk, and a minute for SSH; each test file adds its own file, name and options.
import { DEFAULTS } from '../../../src/base/settings';
import type { ImportImageRequest } from '../../../src/image';
import type { Emulator } from '../../fixtures/emulator';
import { RESCUE_DISK } from '../../fixtures/testhost/rescue';

export function hetznerImportRequest(emu: Emulator, req: Pick<ImportImageRequest, 'file' | 'name'> & Partial<ImportImageRequest>): ImportImageRequest {
  return {
    provider: 'hetzner',
    token: 'test-token',
    endpoint: emu.hetznerUrl,
    settings: DEFAULTS,
    providerOptions: { retry: { baseDelayMs: 10, maxDelayMs: 50 } },
    hetzner: { device: RESCUE_DISK, pollIntervalMs: 50, sshTimeoutMs: 60_000 },
    ...req,
  };
}
