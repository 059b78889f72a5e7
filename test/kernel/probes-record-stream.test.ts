// RecordStream, the batch loop of every ring-buffer probe, on a real ring
// buffer (the packet object's dns_events, fed through BPF_PROG_TEST_RUN): a decoder that throws
// costs that record only, counted as decode <probe>:error and logged once;
// the process keeps running (libbpf-ts's default would rethrow it uncaught).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfObject } from 'libbpf-ts';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { encodeDnsPorts } from '../../src/probes/dns/plan.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { DnsEvent } from '../../src/probes/shared/layouts.js';
import { RecordStream } from '../../src/probes/shared/record-stream.js';
import { dnsMessage, ip, udp, wireName } from './l7-packets.js';
import { waitFor } from './l7-net.js';

const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));

test('a decoder that throws loses that record only: counted, logged once, the stream goes on', async () => {
  const obj = BpfObject.open(`${BUILD}packet.bpf.o`);
  obj.setGlobal('packet_dns', 1);
  obj.setGlobal('dns_ports', encodeDnsPorts([53]));
  obj.load();
  const records: FlowRecord[] = [];
  const warnings: string[] = [];
  const ctx = {
    nodeName: 'n',
    clock: new MonotonicClock(),
    ingress: { ingest: (batch: FlowRecord[]) => void records.push(...batch) },
    interfaces: new InterfaceIndex(),
    objectDir: BUILD,
    log: { warn: (_fields: object, message: string) => void warnings.push(message) },
  };
  let n = 0;
  const stream = new RecordStream(ctx, 'dns', obj.map('dns_events'), DnsEvent.size, (batch, off, out) => {
    // Every other record is "malformed".
    if (n++ % 2 === 0) throw new RangeError(`bad record at ${off}`);
    out.push({ nodeName: 'n', dns: { id: batch.readUInt16LE(off + DnsEvent.id) } });
  });
  try {
    for (let id = 1; id <= 6; id++) {
      const packet = ip('10.243.9.2', '10.243.9.53', 17, udp(40000, 53, dnsMessage({ id, flags: 0x0100, qname: wireName('a.example'), qtype: 1 })));
      obj.program('packet_tc_egress').testRun({ data: packet });
    }
    await waitFor('six records through the stream', () => stream.seen === 6);
    assert.equal(records.length, 3);
    const losses = Object.fromEntries(stream.losses().map((l) => [`${l.stage}:${l.reason}`, l.count]));
    assert.deepEqual(losses, { 'decode:dns:short_record': 0, 'decode:dns:error': 3, 'decode:dns:oversized_record': 0, 'kernel:dns:lost': 0, 'ringbuf:dns:dropped_at_stop': 0 });
    assert.equal(warnings.length, 1, 'logged once');
    assert.match(warnings[0] ?? '', /dns:error.*bad record at/);
  } finally {
    stream.stop();
    obj.close();
  }
});

test('stop() resolves once the batches the consumer thread had read are ingested (they come through the event loop after the join)', async () => {
  const obj = BpfObject.open(`${BUILD}packet.bpf.o`);
  obj.setGlobal('packet_dns', 1);
  obj.setGlobal('dns_ports', encodeDnsPorts([53]));
  obj.load();
  const records: FlowRecord[] = [];
  const ctx = {
    nodeName: 'n', clock: new MonotonicClock(), interfaces: new InterfaceIndex(), objectDir: BUILD,
    ingress: { ingest: (batch: FlowRecord[]) => void records.push(...batch) },
  };
  const stream = new RecordStream(ctx, 'dns', obj.map('dns_events'), DnsEvent.size, (batch, off, out) => {
    out.push({ nodeName: 'n', dns: { id: batch.readUInt16LE(off + DnsEvent.id) } });
  });
  try {
    for (let id = 1; id <= 6; id++) {
      const packet = ip('10.243.9.2', '10.243.9.53', 17, udp(40000, 53, dnsMessage({ id, flags: 0x0100, qname: wireName('a.example'), qtype: 1 })));
      obj.program('packet_tc_egress').testRun({ data: packet });
    }
    // The event loop held while the thread reads the records (its linger is 10 ms) and hands the batch over.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    const stopped = stream.stop();
    assert.equal(records.length, 0, 'not delivered yet: the event loop did not run');
    await stopped;
    assert.deepEqual(records.map((r) => r.dns?.id), [1, 2, 3, 4, 5, 6]);
  } finally {
    obj.close();
  }
});
