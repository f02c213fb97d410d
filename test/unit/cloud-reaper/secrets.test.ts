// The secrets scan over the cloud reaper's path: `thebacknd reaper deploy|status|remove` in its own process with
// distinctive tokens, the scheduled destroy-old and destroy-self (accepted and refused) running for real in the
// emulated DigitalOcean Functions, a machine's user-data with its destroy-self link. The tokens may appear only in
// the requests that bind them to the actions (PUT …/actions/…) and the platform's answers about those actions (GET and DELETE return them);
// the destroy-self secret there and in the CLI's 0600 state file. Nowhere else: not in CLI output, user-data,
// activation results or logs, any other request or answer, or any other file.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator } from '../../fixtures/emulator';
import { cliEnv, runCli, type ProcessRun } from '../../fixtures/cli';
import { artefact, assertNoSecrets, dirArtefacts, emulatorArtefacts, functionsArtefacts, registerFunctionsSecrets, registerSecret, type Artefact } from '../../fixtures/secrets';
import { randomBytes } from 'node:crypto';
import { buildUserData, serializeUserData } from '../../../src/agent/user-data';
import { reaperUserData } from '../../../src/cloud-reaper/link';
import { destroyCode } from '../../../src/cloud-reaper/destroy-code';
import { loadReaperState } from '../../../src/cloud-reaper/local-state';
import { createProvider } from '../../../src/providers';
import { newRunId } from '../../../src/providers/tags';

/** Where binding the tokens to the actions legitimately puts them: the action PUTs and the action reads. */
const BOUND = /^emulator #\d+ (PUT|GET|DELETE) \/api\/v1\/namespaces\/[^/]+\/actions\//;
const mint = (name: string, prefix: string) => {
  const value = `${prefix}${randomBytes(28).toString('hex')}`;
  registerSecret({ name, value, allowedIn: [BOUND] });
  return value;
};
const DO_TOKEN = mint('DigitalOcean token (bound to the reaper)', 'dop_v1_');
const HZ_TOKEN = mint('Hetzner token (bound to the reaper)', 'hz');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-reaper-secrets-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[], env: NodeJS.ProcessEnv, artefacts: Artefact[]): Promise<ProcessRun> {
  const r = await runCli(args, { env, cwd: tmp });
  artefacts.push(artefact(`cli ${args.join(' ')}: stdout`, r.stdout), artefact(`cli ${args.join(' ')}: stderr`, r.stderr));
  return r;
}

test('reaper deploy, status, scheduled passes, destroy-self and remove leak no token and no secret', async (t) => {
  const emu = await startEmulator({ delays: { doActiveMs: 0, hetznerStartingMs: 0, hetznerRunningMs: 0, deleteMs: 0 } });
  t.after(() => emu.close());
  const home = path.join(tmp, 'home');
  const stateDir = path.join(home, '.local', 'state', 'thebacknd');
  const env = cliEnv(emu, { digitalocean: DO_TOKEN, hetzner: HZ_TOKEN }, { HOME: home });
  const artefacts: Artefact[] = [];
  const deployed = await cli(['reaper', 'deploy'], env, artefacts);
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.match(deployed.stdout, /about 2,160 activations a month/);
  const file = path.join(stateDir, 'reaper.json');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'the state file is 0600');
  const stored = loadReaperState(stateDir)!;
  registerSecret({ name: 'destroy-self secret', value: stored.secret, allowedIn: [BOUND, /reaper\.json$/] });
  registerFunctionsSecrets(emu); // the namespace's key: only in the answers that hand it out

  // Machines with their destroy-self link in user-data; one past its deadline for the schedule.
  const machines = [];
  for (const id of ['digitalocean', 'hetzner'] as const) {
    const p = createProvider(id, { token: id === 'digitalocean' ? DO_TOKEN : HZ_TOKEN, endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl });
    const runId = newRunId();
    const userData = serializeUserData(buildUserData({ authorizedKeys: [], target: { kind: 'bare' }, reaper: reaperUserData(stored, runId) }));
    machines.push(
      await p.create({
        region: id === 'digitalocean' ? 'ams3' : 'fsn1',
        size: id === 'digitalocean' ? 's-1vcpu-1gb' : 'cx22',
        image: id === 'digitalocean' ? 'debian-12-x64' : 'debian-12',
        userData,
        deadline: new Date(Date.now() + 5 * 60_000),
        runId,
      }),
    );
  }
  const call = async (body: object) => {
    const r = await fetch(stored.url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Require-Whisk-Auth': stored.whiskAuth }, body: JSON.stringify(body) });
    artefacts.push(artefact(`destroy-self answer ${r.status}`, await r.text()));
    return r.status;
  };
  assert.equal(await call({ runId: machines[0]!.runId, code: 'f'.repeat(64) }), 403);
  assert.equal(await call({ runId: machines[0]!.runId, code: destroyCode(stored.secret, machines[0]!.runId!) }), 200);
  await emu.functions.advanceClock(30 * 60_000);
  assert.equal((await createProvider('hetzner', { token: HZ_TOKEN, endpoint: emu.hetznerUrl }).list()).machines.length, 0, 'the schedule reaped it');

  const status = await cli(['reaper', 'status'], env, artefacts);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`destroy-old\\s+destroyed ${machines[1]!.name}`));
  const removed = await cli(['reaper', 'remove', '--yes'], env, artefacts);
  assert.equal(removed.code, 0, removed.stderr);

  artefacts.push(...emulatorArtefacts(emu), ...functionsArtefacts(emu), ...dirArtefacts('HOME', home));
  const scanned = assertNoSecrets(artefacts);
  assert.ok(emu.functions.activations.length >= 3 && scanned.artefacts > 20, `scanned ${scanned.artefacts} artefacts`);
  // The scan would see them there: the bound parameters really carry the tokens (so allowing only those is a choice).
  assert.ok(emulatorArtefacts(emu).some((a) => BOUND.test(a.name) && a.text.includes(DO_TOKEN)));
});
