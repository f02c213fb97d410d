// The ports that reach the machine over SSH pinned to the host key generated for it: wait until SSH answers, hand
// a private cache's read credentials over, copy a closure when there is no cache. Commands get their input on
// stdin, never on a command line, never in a log.

import path from 'node:path';
import { UserError } from '../base/errors';
import { runNix } from '../nix/run';
import { substituterUrl } from '../nix/s3';
import { storeUrl, writeKnownHosts } from '../ssh/known-hosts';
import { SshSession, sshTargetFor, waitForSsh } from '../ssh/session';
import { credentialsFileFor, NO_READ_CREDENTIALS, readCredentialsOf } from './cache-access';
import { storedKeys, targetOf } from './key-ports';
import { nixOptionsOf } from './nix-ports';
import { CLOSURE_READY_FILE, CREDENTIALS_FILE, sshWaitOf, type PortsOptions } from './port-options';
import type { PowerWatch } from './power-watch';
import type { MachineKeys, RunPorts } from './types';

type MachinePorts = Pick<RunPorts, 'waitSsh'> & Required<Pick<RunPorts, 'deliverCredentials' | 'copyClosure'>>;

export function machinePorts(o: PortsOptions, power: PowerWatch): MachinePorts {
  /** Runs one command on the machine with `input` on its stdin. */
  const runRemote = async (ip: string, keys: MachineKeys, command: string, input: string, what: string, signal: AbortSignal): Promise<void> => {
    const session = await SshSession.connect(await targetOf(o.keysRoot, ip, keys), { signal });
    try {
      const r = await session.run(command, { stdin: input, signal });
      signal.throwIfAborted();
      if (r.code !== 0) throw new UserError(`Could not ${what} on ${ip} (exit status ${r.code ?? 'unknown'}): ${r.stderr.trim().split('\n')[0] ?? ''}`);
    } finally {
      session.close();
    }
  };

  return {
    async waitSsh(ip, keys, signal) {
      const k = await storedKeys(o.keysRoot, keys);
      await writeKnownHosts(k, ip); // for OpenSSH clients (Remote-SSH, a terminal): the same pinned key
      // A wrong host key fails at once: the image installs the pinned key before sshd starts, so another key is
      // someone else answering on that address.
      const t = await sshTargetFor(k, ip);
      const session = await power.unlessPoweredOff(ip, signal, (s) => waitForSsh(t, { ...sshWaitOf(o), hostKeyMismatch: 'fail', signal: s }));
      if (session !== 'off') session.close(); // off: followBoot says so
    },

    async deliverCredentials(ip, keys, signal) {
      const read = readCredentialsOf(o);
      if (!read) throw new UserError(NO_READ_CREDENTIALS);
      const content = credentialsFileFor(substituterUrl(o.settings.cache), read.creds, read.pushKeyHost);
      await runRemote(ip, keys, writeRootFile(CREDENTIALS_FILE), content, 'write the cache credentials', signal);
    },

    async copyClosure(ip, keys, storePath, signal, onLine) {
      // ssh-ng (the remote nix-daemon) with --no-check-sigs: root is a trusted user there, and a closure built here
      // for a machine without a cache is usually unsigned. Nix's ssh gets the pinned key from the URL.
      const url = storeUrl(ip, await storedKeys(o.keysRoot, keys), { scheme: 'ssh-ng' });
      await runNix(['copy', '--no-check-sigs', '--to', url, storePath], nixOptionsOf(o, signal, onLine), `Copying ${storePath} to ${ip}`);
      await runRemote(ip, keys, writeRootFile(CLOSURE_READY_FILE), `${storePath}\n`, 'mark the closure as copied', signal);
    },
  };
}

/** A root-only file written whole from stdin (a reader never sees half of it). */
export function writeRootFile(file: string): string {
  return `umask 077 && mkdir -p ${path.posix.dirname(file)} && cat > ${file}.tmp && mv -f ${file}.tmp ${file}`;
}
