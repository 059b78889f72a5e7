// The dns probe's close() when its ring buffer's last batch is still on its
// way to JavaScript (read by the consumer thread, delivered through the event
// loop after the thread was joined): a response in that batch still finds its
// query, and close() resolves only once the DNS record is in the ingress;
// the query is not counted as pending at stop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podflow } from '../../src/proto/gen/flow.js';
import { createDnsProbe } from '../../src/probes/dns/plan.js';
import { dnsMessage, ip, udp, wireName } from './l7-packets.js';
import { testContext, waitFor } from './l7-net.js';

test('dns close(): a response in the ring buffer\'s last batch completes its query before the probe stops', async () => {
  const ctx = testContext();
  const probe = createDnsProbe(ctx, { interfaces: [] }, 'tc');
  const run = (prog: string, packet: Buffer) => probe.object.program(prog).testRun({ data: packet });
  const query = dnsMessage({ id: 0x5151, flags: 0x0100, qname: wireName('late.example'), qtype: 1 });
  const response = dnsMessage({ id: 0x5151, flags: 0x8180, qname: wireName('late.example'), qtype: 1 });
  run('packet_tc_egress', ip('10.249.73.2', '10.249.73.53', 17, udp(40123, 53, query)));
  await waitFor('the query decoded', () => probe.eventsSeen() === 1);
  run('packet_tc_ingress', ip('10.249.73.53', '10.249.73.2', 17, udp(53, 40123, response)));
  // The event loop held while the consumer thread reads the response (its linger is 10 ms) and hands it over.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  await probe.close();
  const dns = ctx.records.filter((r) => r.type === podflow.v1.RecordType.DNS);
  assert.deepEqual(dns.map((r) => [r.dns?.id, r.dns?.rcode]), [[0x5151, 'NOERROR']]);
  const atStop = probe.losses().find((l) => l.reason === 'dns:pending_at_stop');
  assert.equal(atStop?.count, 0, 'the query was answered');
});
