// PacketObjects: flows, dns and http share one loaded packet.bpf.o per hook
// mode (one TC program per interface and direction parses each packet once for
// the three). A probe left out runs nothing in it and its hash maps hold one
// entry; the last probe to let go closes the object and its programs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LoadError, possibleCpus, type BpfObject } from 'libbpf-ts';
import { dnsSetup } from '../../src/probes/dns/plan.js';
import { flowMapEntries, flowsSetup } from '../../src/probes/flows/plan.js';
import { PacketObjects, type PacketProbeSetup } from '../../src/probes/shared/packet-object.js';
import { DEFAULT_FLOW_MAP_BYTES } from '../../src/probes/types.js';
import { dnsMessage, ip, tcp, udp, wireName } from './l7-packets.js';
import { heldProgramIds } from './probes-held.js';

const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));

test('flows and dns share one object per mode, http left out of it; the last release unloads it', () => {
  const packet = new PacketObjects({
    interfaces: [],
    setups: [flowsSetup({ interfaces: [], activeTimeoutMs: 1000, idleTimeoutMs: 1000 }), dnsSetup({ interfaces: [], ports: [5353] })],
  });
  const before = heldProgramIds();
  const flows = packet.acquire(BUILD, 'tc');
  const dns = packet.acquire(BUILD, 'tc');
  assert.equal(dns, flows, 'the second probe of a mode gets the loaded object');
  const obj = flows.object;
  const ours = [...heldProgramIds()].filter((id) => !before.has(id));
  assert.equal(ours.length, 3, 'TC ingress, TC egress and the socket filter, once');
  assert.deepEqual(['packet_flows', 'packet_dns', 'packet_http'].map((g) => obj.getGlobal(g)[0]), [1, 1, 0]);
  assert.equal(obj.map('pf_flows').maxEntries, flowMapEntries(DEFAULT_FLOW_MAP_BYTES, possibleCpus()));
  assert.deepEqual([obj.map('http_conns').maxEntries, obj.map('http_answered_seq').maxEntries], [1, 1], 'http is left out: its maps hold nothing');

  const run = (data: Buffer) => assert.equal(obj.program('packet_tc_ingress').testRun({ data }).retval | 0, -1);
  run(ip('10.244.0.2', '10.244.0.3', 6, tcp(40000, 80, 1, Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'))));
  assert.equal([...obj.map('pf_flows').keys()].length, 1, 'flows counted the request');
  assert.equal([...obj.map('http_conns').keys()].length, 0, 'http, left out, did not see it');
  run(ip('10.244.0.2', '10.244.0.53', 17, udp(40001, 5353, dnsMessage({ id: 7, flags: 0x0100, qname: wireName('a.example'), qtype: 1 }))));
  assert.equal([...obj.map('dns_sightings').keys()].length, 1, 'dns saw the query on its configured port');
  assert.equal([...obj.map('pf_flows').keys()].length, 2, 'and flows counted it too');

  const other = packet.acquire(BUILD, 'socket_filter');
  assert.notEqual(other, flows, 'another mode is another object');
  other.release();
  flows.release();
  assert.ok(ours.every((id) => heldProgramIds().has(id)), 'still held while dns uses it');
  dns.release();
  const held = heldProgramIds();
  assert.ok(ours.every((id) => !held.has(id)), 'the last release closes the programs');
  const again = packet.acquire(BUILD, 'tc');
  assert.notEqual(again.object, obj, 'released, the next probe loads it afresh');
  again.release();
});

test('the object loads while signals keep arriving (the CPU profiler\'s SIGPROF, a child\'s SIGCHLD): the verifier is not interrupted', async () => {
  // The verifier gives up on a pending signal (EAGAIN, five times in libbpf): without blocking them during
  // the load, `node --cpu-prof` could not start the agent. A signal with a handler interrupts; SIGUSR1/2 are Node's own.
  const ignore = () => {};
  process.on('SIGWINCH', ignore);
  const signals = spawn('sh', ['-c', `while kill -WINCH ${process.pid} 2>/dev/null; do sleep 0.001; done`], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 3; i++) {
      const packet = new PacketObjects({ interfaces: [], setups: [flowsSetup({ interfaces: [], activeTimeoutMs: 1000, idleTimeoutMs: 1000 })] });
      packet.acquire(BUILD, 'tc').release();
    }
  } finally {
    signals.kill();
    await once(signals, 'exit');
    process.off('SIGWINCH', ignore);
  }
});

test('a load failure is one failure for both hook modes: the other mode is not loaded again and says why, until settle()', async () => {
  let loads = 0;
  // A hash map the kernel refuses to create (E2BIG): the object fails to load whatever the mode.
  const refused: PacketProbeSetup = { probe: 'flows', configure: (obj: BpfObject) => void (loads++, obj.map('pf_flows').resize(0x80000001)) };
  const packet = new PacketObjects({ interfaces: [], setups: [refused] });
  const e2big = (err: unknown) => err instanceof LoadError && err.code === 'E2BIG';
  const sameObject = (mode: string, failed: string) =>
    new RegExp(`^Error: not loaded again: ${mode} uses the same packet object \\(packet\\.bpf\\.o\\) as ${failed}, which failed to load \\(see ${failed}\\)`);
  await packet.preload(BUILD, 'tc');
  assert.throws(() => packet.acquire(BUILD, 'tc'), e2big, 'the failing mode: the load error itself');
  assert.throws(() => packet.acquire(BUILD, 'socket_filter'), sameObject('socket_filter', 'tc'));
  assert.equal(loads, 1, 'the other mode did not load the object again');
  packet.settle();
  assert.throws(() => packet.acquire(BUILD, 'socket_filter'), e2big, 'settled: the next start loads again');
  assert.throws(() => packet.acquire(BUILD, 'tc'), sameObject('tc', 'socket_filter'), 'a failure of acquire() itself is kept too');
  assert.equal(loads, 2);
  packet.settle();
});

test('a packet object that cannot even be opened is the probes\' skip reason: preload() does not reject', async () => {
  const packet = new PacketObjects({ interfaces: [], setups: [flowsSetup({ interfaces: [], activeTimeoutMs: 1000, idleTimeoutMs: 1000 })] });
  await packet.preload('/nonexistent-podflow-objects', 'tc');
  assert.throws(() => packet.acquire(BUILD, 'tc'), /packet\.bpf\.o/);
  packet.settle();
});
