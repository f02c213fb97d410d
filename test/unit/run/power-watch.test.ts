// The power watch of a run's ports, alone, against the emulated cloud through the real client: a wait on a machine
// that powers itself off stops with 'off' (and the address is remembered for the boot log), a wait that ends on its
// own returns its value, and the caller's cancel is the caller's.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../../fixtures/emulator';
import { createProvider } from '../../../src/providers';
import { powerWatch } from '../../../src/run/power-watch';

const emuP = startEmulator({ delays: { deleteMs: 0 } });
after(async () => (await emuP).close());

async function setup() {
  const emu = await emuP;
  const s = emu.addServer({ name: `thebacknd-${emu.state.servers.size + 1}`, labels: { thebacknd: '', 'thebacknd-run': 'thebacknd-power-watch' } });
  const provider = createProvider('hetzner', { token: 'test-token-0123456789abcdef', endpoint: emu.hetznerUrl });
  return { emu, s, ip: s.ipv4!.ip, watch: powerWatch(provider, 20) };
}

/** Waits until its signal aborts, telling the test when it started. */
const untilAborted = (started: () => void) => (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    started();
  });

test('a machine that powers itself off ends the wait with "off", and is remembered', async () => {
  const { emu, s, ip, watch } = await setup();
  const r = await watch.unlessPoweredOff(
    ip,
    new AbortController().signal,
    untilAborted(() => emu.powerOff('hetzner', s.id)),
  );
  assert.equal(r, 'off');
  assert.ok(watch.poweredOff.has(ip));
});

test('a wait that ends on its own returns its value; the machine is not marked off', async () => {
  const { ip, watch } = await setup();
  assert.equal(await watch.unlessPoweredOff(ip, new AbortController().signal, async () => 'answered'), 'answered');
  assert.ok(!watch.poweredOff.has(ip));
});

test("the caller's cancel rejects with the caller's reason", async () => {
  const { ip, watch } = await setup();
  const ctl = new AbortController();
  const reason = new Error('cancelled by the user');
  await assert.rejects(
    watch.unlessPoweredOff(
      ip,
      ctl.signal,
      untilAborted(() => ctl.abort(reason)),
    ),
    (e) => e === reason,
  );
  assert.ok(!watch.poweredOff.has(ip));
});
