// The boot port: follows the agent's log on the machine (src/ssh/boot-log.ts) until its last stage line, through
// reconnects, and draws the run's verdict from that line — or from the machine powering itself off first.

import { describeAgentEvent, isTerminal, type AgentEvent } from '../agent/log';
import { UserError } from '../base/errors';
import { DEFAULT_BOOT_LOG_COMMAND, streamBootLog } from '../ssh/boot-log';
import { targetOf } from './key-ports';
import { sshWaitOf, type PortsOptions } from './port-options';
import type { PowerWatch } from './power-watch';
import type { BootOutcome, RunPorts } from './types';

export function bootPort(o: Pick<PortsOptions, 'keysRoot' | 'bootLogCommand' | 'sshTimeoutMs' | 'sshRetryMs'>, power: PowerWatch): RunPorts['followBoot'] {
  return async (ip, keys, signal, onLine) => {
    if (power.poweredOff.has(ip)) return { ok: false, poweredOff: true, reason: 'the machine powered itself off before SSH answered; its boot log is gone with it' };
    const t = await targetOf(o.keysRoot, ip, keys);
    const wait = sshWaitOf(o);
    let first = true;
    const end = await power.unlessPoweredOff(ip, signal, (s) =>
      streamBootLog(
        {
          target: t,
          command: o.bootLogCommand ?? DEFAULT_BOOT_LOG_COMMAND,
          until: isTerminal,
          waitDeadlineMs: wait.deadlineMs,
          retryIntervalMs: wait.intervalMs,
          connect: { hostKeyMismatch: 'fail' },
          signal: s,
        },
        (e) => {
          if (e.kind === 'line') onLine(e.line);
          // SSH already answered in wait-ssh: only later waits (a reconnect) are news.
          else if (e.kind === 'status' && e.status !== 'connected' && !(first && e.status === 'waiting')) onLine(`── ${e.message}`);
          if (e.kind === 'status' && e.status === 'connected') first = false;
        },
      ),
    );
    signal.throwIfAborted();
    if (end === 'off' || (end.reason === 'aborted' && power.poweredOff.has(ip))) {
      return { ok: false, poweredOff: true, reason: 'the machine powered itself off before its boot log ended' };
    }
    if (end.reason === 'finished') return outcomeOf(end.stage);
    if (end.reason === 'exited') return { ok: false, reason: `the boot log on ${ip} ended before the agent finished (${end.code ?? end.signal})` };
    throw signal.reason ?? new UserError('Following the boot log was cancelled.');
  };
}

/** The run's verdict from the agent's last stage line. */
export function outcomeOf(ev: AgentEvent): BootOutcome {
  if (ev.stage === 'done') return { ok: true };
  if (ev.stage === 'poweroff') {
    return ev.exitCode === 0 ? { ok: true, poweredOff: true } : { ok: false, poweredOff: true, reason: `the program exited with status ${ev.exitCode}; the machine powered off` };
  }
  if (ev.stage === 'failed') return { ok: false, reason: `${describeAgentEvent(ev)}${ev.path ? ` (${ev.path})` : ''}` };
  return { ok: false, reason: describeAgentEvent(ev) };
}
