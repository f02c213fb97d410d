// Keys go away with their machine, and only then: a machine seen alive and then missing from a successful list of
// its provider loses its keys and its Remote-SSH entry; a failed list, a run still in progress or a machine never
// seen keep theirs. Against the cloud emulator through the real machine service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator } from '../../fixtures/emulator';
import { createProvider } from '../../../src/providers';
import { doTags, newRunId } from '../../../src/providers/tags';
import { MachineService } from '../../../src/machines/service';
import { DEFAULTS, type Settings } from '../../../src/base/settings';
import { createMachineKeys, loadMachineKeys } from '../../../src/ssh/keys';
import { writeHostEntry, listHostEntries } from '../../../src/ssh/remote-ssh-config';
import { KeyJanitor } from '../../../src/ssh/key-janitor';

test('keys and Host entries are removed once a machine is gone, never on a failed list or during its run', async () => {
  const emu = await startEmulator({ delays: { doActiveMs: 0, deleteMs: 0, actionMs: 0 } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-janitor-'));
  const managed = path.join(dir, 'thebacknd_config');
  try {
    const settings: Settings = { ...DEFAULTS, digitalocean: { ...DEFAULTS.digitalocean, endpoint: emu.doUrl } };
    const svc = new MachineService({
      tokens: { get: async (p) => (p === 'digitalocean' ? { token: 'emulator-token-0123456789', source: 'environment' } : undefined) },
      settings: () => settings,
      createProvider: (id, opts) => createProvider(id, { ...opts, retry: { retries: 0 } }),
    });
    const [a, b, busy] = [newRunId(), newRunId(), newRunId()];
    const deadline = new Date(Date.now() + 3600_000);
    const da = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(a, deadline) });
    const db = emu.addDroplet({ name: 'thebacknd-2', tags: doTags(b, deadline) });
    const dbusy = emu.addDroplet({ name: 'thebacknd-3', tags: doTags(busy, deadline) });
    for (const id of [a, b, busy]) await createMachineKeys(dir, id);
    const orphan = newRunId(); // keys of a machine this window never saw (another computer's run, say)
    await createMachineKeys(dir, orphan);
    for (const alias of ['thebacknd-1', 'thebacknd-2']) {
      await writeHostEntry({ alias, hostName: '203.0.113.9', identityFile: '/k', knownHostsFile: '/h' }, managed);
    }
    const logs: string[] = [];
    const janitor = new KeyJanitor({ service: svc, storageDir: dir, busy: () => new Set([busy]), managedSshConfig: () => managed, log: (m) => logs.push(m) });
    await svc.reconfigure();
    await svc.refresh();
    assert.equal(svc.machines().length, 3);

    // A failed list keeps everything, even though the machines are not in it.
    emu.state.droplets.delete(da.id);
    emu.fault({ provider: 'digitalocean', method: 'GET', path: '/v2/droplets', kind: 500, times: 5 });
    await svc.refresh().catch(() => undefined);
    assert.ok(svc.snapshot().find((p) => p.id === 'digitalocean')?.error, 'the list failed');
    await janitor.settled();
    assert.ok(await loadMachineKeys(dir, a), 'keys kept after a failed list');
    emu.clearFaults();

    // The next good list: thebacknd-1 is gone; so is thebacknd-3, but its run is still in progress here.
    emu.state.droplets.delete(dbusy.id);
    await svc.refresh();
    await janitor.settled();
    assert.equal(await loadMachineKeys(dir, a), undefined, 'the gone machine lost its keys');
    assert.ok(await loadMachineKeys(dir, b), 'the live machine keeps its keys');
    assert.ok(await loadMachineKeys(dir, busy), 'a machine whose run is in progress keeps its keys');
    assert.ok(await loadMachineKeys(dir, orphan), 'keys of a machine never seen here are not touched');
    assert.deepEqual(await listHostEntries(managed), ['thebacknd-2']);
    assert.ok(
      logs.some((l) => l.includes('thebacknd-1 is gone')),
      logs.join('\n'),
    );
    assert.ok(emu.state.droplets.has(db.id));
    janitor.dispose();
  } finally {
    await emu.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
