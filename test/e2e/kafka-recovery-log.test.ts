// What the Kafka sink logs about an outage of the broker (test/peers/kafka):
// a warning per failed attempt while it lasts (with backoff, at most one per
// retryMaxMs), then one line when delivery resumes, with the failed attempts
// and the records shed meanwhile. Before, the last line about the sink in the
// log said "delivery failed, retrying" long after it had recovered.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { KafkaSink } from '../../src/pipeline/sinks/kafka-sink.js';
import { RecordType } from '../../src/pipeline/types.js';
import { knownRecords } from '../peers/flow-fixtures.js';
import { releasePeer, startPeer, waitFor, withPeerStopped } from '../peers/peers.js';

after(async () => {
  await releasePeer('kafka');
});

test('delivery resumed after a broker outage is logged once, with the failed attempts and the records shed', { timeout: 5 * 60_000 }, async () => {
  let kafka = await startPeer('kafka');
  const lines: { level: number; msg: string; failedAttempts?: number; shed?: number }[] = [];
  const logger = pino({ level: 'info' }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  }));
  const node = `pfd-recovery-${Date.now().toString(36)}`;
  const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic: `pfd.e2e.${Date.now().toString(36)}.recovery`, bufferBytes: 64 * 1024, retryMaxMs: 500, logger });
  await sink.start();
  try {
    await sink.write(knownRecords(node, 10));
    await sink.flush();
    kafka = await withPeerStopped('kafka', async () => {
      // More than the 64 KiB buffer holds: the rest is shed.
      for (let i = 0; i < 20; i++) await sink.write(knownRecords(node, 100, 6, 100 + i * 100).filter((r) => r.type !== RecordType.LOSS));
      await waitFor('a failed attempt', async () => (lines.some((l) => /delivery failed, retrying/.test(l.msg)) ? true : undefined), 60_000);
    });
    await waitFor('delivery resumed', async () => (sink.ready && sink.bufferedRecords === 0 ? true : undefined), 120_000);
  } finally {
    await sink.stop();
  }
  const shed = sink.losses().find((l) => l.reason === 'buffer_full')?.count ?? 0;
  assert.ok(shed > 0, 'the buffer was full and records were shed');
  const resumed = lines.filter((l) => /delivery resumed/.test(l.msg));
  assert.equal(resumed.length, 1, JSON.stringify(lines.map((l) => l.msg)));
  assert.equal(resumed[0].level, 30);
  assert.equal(resumed[0].shed, shed);
  assert.equal(resumed[0].failedAttempts, sink.sendRetries);
  assert.equal(lines.filter((l) => /delivery failed, retrying/.test(l.msg)).length, sink.sendRetries);
});
