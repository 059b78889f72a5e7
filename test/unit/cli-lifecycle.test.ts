// runUntilStopped: --duration is how long the agent runs, counted once it started; how a failing stdout ends the agent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Agent } from '../../src/agent/agent.js';
import { onStdoutError, runUntilStopped, StopSignals } from '../../src/cli/lifecycle.js';

test('--duration counts from when the agent runs, not from the start of a slow start-up', async () => {
  const times: { started?: number; stopped?: number } = {};
  // Start-up (loading and attaching the probes) longer than the duration, as on a busy node.
  const agent = {
    start: async () => { await sleep(400); times.started = performance.now(); },
    stop: async () => { times.stopped = performance.now(); },
  } as unknown as Agent;
  await runUntilStopped(agent, { signals: new StopSignals(), durationMs: 200, shutdownDeadlineMs: 1000, logger: pino({ level: 'silent' }) });
  assert.ok(times.started !== undefined && times.stopped !== undefined);
  const ran = times.stopped - times.started;
  // Before: the timer ran during start-up and the agent stopped right after it started (ran ~0 ms).
  assert.ok(ran >= 190, `the agent ran ${ran.toFixed(0)} ms, expected the 200 ms of --duration`);
});

/** An agent that starts at once and runs until stopped. */
function runningAgent(): { agent: Agent; stopped: () => boolean } {
  let stopped = false;
  const agent = { start: async () => {}, stop: async () => { stopped = true; } } as unknown as Agent;
  return { agent, stopped: () => stopped };
}

test('stdout closed by its reader (EPIPE, `podflow run | head`): a clean stop, exit 0', async () => {
  const { agent, stopped } = runningAgent();
  const run = runUntilStopped(agent, { signals: new StopSignals(), shutdownDeadlineMs: 1000, logger: pino({ level: 'silent' }) });
  await sleep(50);
  onStdoutError(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  await run;
  assert.ok(stopped());
});

test('stdout failing otherwise (ENOSPC, `podflow run > file` on a full disk): a clean stop, then a failure (exit 1) saying why', async () => {
  const { agent, stopped } = runningAgent();
  const run = runUntilStopped(agent, { signals: new StopSignals(), shutdownDeadlineMs: 1000, logger: pino({ level: 'silent' }) });
  await sleep(50);
  onStdoutError(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
  // Before: the agent stopped as for a closed pipe and exited 0, so a supervisor saw a success.
  await assert.rejects(run, /^Error: cannot write records to stdout: ENOSPC: no space left on device, write$/);
  assert.ok(stopped(), 'stopped cleanly first');
});
