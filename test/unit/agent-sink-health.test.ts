// SinkHealth: a sink whose writes fail is not ready until one succeeds, and each
// failing period is logged twice (start, end), not once per write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { SinkHealth } from '../../src/agent/sink-health.js';

test('a failing period: one error when it starts, one info when a write succeeds again; nothing once the agent stops', () => {
  const lines: { level: number; msg: string; sink?: string; failedWrites?: number; lostRecords?: number; seconds?: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[number]) });
  let now = 1000;
  let stopping = false;
  const health = new SinkHealth(logger, () => stopping, () => now);
  const enospc = new Error('ENOSPC: no space left on device, write');
  health.onWrite({ sink: 'file', records: 10, seconds: 0.001 });
  assert.equal(health.failing('file'), false);
  for (let i = 0; i < 5; i++) health.onWrite({ sink: 'file', records: 10, seconds: 0.001, error: enospc });
  assert.equal(health.failing('file'), true);
  assert.equal(health.failing('stdout'), false, 'per sink');
  now += 2500;
  health.onWrite({ sink: 'file', records: 3, seconds: 0.001 });
  assert.equal(health.failing('file'), false);
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    [50, 'file sink: a write failed (ENOSPC: no space left on device, write); its records are lost (sink:file/write_failed) and the sink is not ready until a write succeeds'],
    [30, 'file sink: writes succeed again'],
  ]);
  assert.deepEqual({ failedWrites: lines[1].failedWrites, lostRecords: lines[1].lostRecords, seconds: lines[1].seconds }, { failedWrites: 5, lostRecords: 50, seconds: 2.5 });

  // Once the agent stops, a failure is the stop's own cause (`podflow run | head`: EPIPE), not news: not logged, still not ready.
  stopping = true;
  health.onWrite({ sink: 'stdout', records: 7, seconds: 0.001, error: new Error('write EPIPE') });
  assert.equal(health.failing('stdout'), true);
  assert.equal(lines.length, 2);
});
