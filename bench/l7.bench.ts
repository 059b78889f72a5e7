// Cost of the L7 probes per packet under BPF_PROG_TEST_RUN, beside an empty
// TC program. The probes run in the packet object's TC program
// (bpf/packet.bpf.c), which every packet crosses, so the common case is a
// packet that is not L7 at all. Each probe is measured alone, in an object
// loaded as the agent loads it with only that probe enabled: http on a
// non-HTTP TCP segment, dns on a non-DNS UDP datagram and on a query (parse +
// ring-buffer event); and the three probes together, as the agent runs them,
// on the non-HTTP TCP segment. Also the user-space decode of DNS and HTTP
// events. The headline figure is http on a non-HTTP TCP segment.
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BpfObject, RingBufferConsumer, type Program } from 'libbpf-ts';
import { decodeDnsEvent } from '../src/probes/dns/decode.js';
import { DnsEvent, HttpEvent, FlowKey as L7Tuple } from '../src/probes/shared/layouts.js';
import { DnsMatcher } from '../src/probes/dns/matcher.js';
import { decodeHttpEvent } from '../src/probes/http/decode.js';
import { MonotonicClock } from '../src/probes/shared/clock.js';
import { InterfaceIndex } from '../src/probes/shared/interfaces.js';
import { PacketObjects, type PacketObject, type PacketProbeName } from '../src/probes/shared/packet-object.js';
import { dnsMessage, ip, tcp, udp, wireName } from '../test/kernel/l7-packets.js';

const SMOKE = process.env.BENCH_SMOKE === '1';
const REPEAT = SMOKE ? 10_000 : 1_000_000;
const ROUNDS = SMOKE ? 1 : 5;
/** DNS events per run: fits the 4 MiB ring buffer, which is drained between runs. */
const EVENT_REPEAT = 2000;
const DECODE_N = SMOKE ? 10_000 : 500_000;
const BUILD = fileURLToPath(new URL('../../bpf/build/', import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const emptyObj = BpfObject.open(`${BUILD}tc_empty.bpf.o`);
const loaded: PacketObject[] = [];
/** The packet object with these probes enabled, as the agent loads it. */
function packetObject(...probes: PacketProbeName[]): BpfObject {
  const packet = new PacketObjects({ interfaces: [], setups: probes.map((probe) => ({ probe })) }).acquire(BUILD, 'tc');
  loaded.push(packet);
  return packet.object;
}

let consumer: RingBufferConsumer | undefined;
try {
  emptyObj.load();
  const dnsObj = packetObject('dns');
  consumer = new RingBufferConsumer(dnsObj.map('dns_events'), () => undefined).start();
  const empty = emptyObj.program('tc_empty');
  const http = packetObject('http').program('packet_tc_ingress');
  const dns = dnsObj.program('packet_tc_ingress');
  // The agent's object: what each non-HTTP TCP packet pays for the three probes together.
  const all = packetObject('flows', 'dns', 'http').program('packet_tc_ingress');
  const tcpData = ip('10.237.9.1', '10.237.9.2', 6, tcp(40000, 443, 1, Buffer.alloc(10)));
  const udpData = ip('10.237.9.1', '10.237.9.2', 17, udp(40000, 443, Buffer.alloc(22)));
  const query = ip('10.237.9.1', '10.237.9.53', 17, udp(40000, 53, dnsMessage({ id: 1, flags: 0x0100, qname: wireName('backend.default.svc.cluster.local'), qtype: 1 })));
  const run = (p: Program, data: Buffer, repeat = REPEAT): number => p.testRun({ data, repeat }).durationNs;
  const rows: Record<string, number[]> = { empty: [], httpNonHttp: [], dnsNonDns: [], dnsQuery: [], allNonHttp: [] };
  all.testRun({ data: tcpData }); // warm: the flow's map entry exists from here on, as in flows-tc
  for (let i = 0; i < ROUNDS; i++) {
    rows.empty?.push(run(empty, tcpData));
    rows.httpNonHttp?.push(run(http, tcpData));
    rows.allNonHttp?.push(run(all, tcpData));
    rows.dnsNonDns?.push(run(dns, udpData));
    rows.dnsQuery?.push(run(dns, query, EVENT_REPEAT));
    await new Promise((r) => setTimeout(r, 50)); // let the consumer drain the ring buffer
  }
  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)])) as Record<keyof typeof rows, number>;

  // User space: decode + pair DNS events, decode HTTP events (synthetic, as the kernel lays them out).
  const ctx = { clock: new MonotonicClock(), nodeName: 'n', interfaces: new InterfaceIndex() };
  const dnsEv = Buffer.alloc(DnsEvent.size * 2);
  for (const [i, resp] of [false, true].entries()) {
    const o = i * DnsEvent.size;
    Buffer.from([10, 237, 9, resp ? 53 : 1]).copy(dnsEv, o + DnsEvent.tuple + L7Tuple.saddr);
    Buffer.from([10, 237, 9, resp ? 1 : 53]).copy(dnsEv, o + DnsEvent.tuple + L7Tuple.daddr);
    dnsEv.writeUInt16LE(resp ? 53 : 40000, o + DnsEvent.tuple + L7Tuple.sport);
    dnsEv.writeUInt16LE(resp ? 40000 : 53, o + DnsEvent.tuple + L7Tuple.dport);
    dnsEv[o + DnsEvent.tuple + L7Tuple.ip_version] = 4;
    dnsEv[o + DnsEvent.tuple + L7Tuple.protocol] = 17;
    dnsEv.writeUInt16LE(resp ? 0x8180 : 0x0100, o + DnsEvent.flags);
    dnsEv.writeUInt16LE(1, o + DnsEvent.qtype);
    const name = Buffer.from('.backend.default.svc.cluster.local');
    name.copy(dnsEv, o + DnsEvent.qname);
    dnsEv.writeUInt16LE(name.length, o + DnsEvent.name_len);
  }
  const matcher = new DnsMatcher(ctx, { timeoutMs: 5000, maxPending: 65536 });
  const out: unknown[] = [];
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < DECODE_N; i++) {
    dnsEv.writeUInt16LE(i & 0xffff, DnsEvent.id);
    dnsEv.writeUInt16LE(i & 0xffff, DnsEvent.size + DnsEvent.id);
    const q = decodeDnsEvent(dnsEv, 0);
    const r = decodeDnsEvent(dnsEv, DnsEvent.size);
    if (q && r) {
      matcher.add(q, out as never);
      matcher.add(r, out as never);
    }
    if (out.length > 1000) out.length = 0;
  }
  const dnsPairsPerSec = DECODE_N / (Number(process.hrtime.bigint() - t0) / 1e9);

  const httpEv = Buffer.alloc(HttpEvent.size);
  Buffer.from([10, 237, 9, 1]).copy(httpEv, HttpEvent.req_tuple + L7Tuple.saddr);
  Buffer.from([10, 237, 9, 2]).copy(httpEv, HttpEvent.req_tuple + L7Tuple.daddr);
  Buffer.from([10, 237, 9, 2]).copy(httpEv, HttpEvent.resp_saddr);
  httpEv[HttpEvent.req_tuple + L7Tuple.ip_version] = 4;
  const req = Buffer.from('GET /api/users?id=7 HTTP/1.1\r\nHost: backend.default\r\nAccept: */*\r\n\r\n');
  req.copy(httpEv, HttpEvent.req);
  httpEv.writeUInt16LE(req.length, HttpEvent.req_len);
  Buffer.from('HTTP/1.1 200 OK\r\n').copy(httpEv, HttpEvent.resp, 0, 16);
  httpEv[HttpEvent.resp_len] = 16;
  t0 = process.hrtime.bigint();
  let ok = 0;
  for (let i = 0; i < DECODE_N; i++) if (decodeHttpEvent(httpEv, 0, ctx)) ok++;
  const httpPerSec = ok / (Number(process.hrtime.bigint() - t0) / 1e9);

  console.log(`L7 probes in packet_tc_ingress under BPF_PROG_TEST_RUN, one probe enabled, ${REPEAT} repeats x ${ROUNDS} rounds (median ns/packet)`);
  console.log(`  empty TC program                    ${m.empty.toFixed(1)}`);
  console.log(`  http, non-HTTP TCP                  ${m.httpNonHttp.toFixed(1)}`);
  console.log(`  dns, non-DNS UDP                    ${m.dnsNonDns.toFixed(1)}`);
  console.log(`  dns, A query (event)                ${m.dnsQuery.toFixed(1)}   (${EVENT_REPEAT} repeats)`);
  console.log(`  flows+dns+http, non-HTTP TCP        ${m.allNonHttp.toFixed(1)}   (the agent's object)`);
  console.log(`user space: ${Math.round(dnsPairsPerSec)} DNS query+response pairs/s decoded and matched, ${Math.round(httpPerSec)} HTTP exchanges/s decoded`);
  console.log(JSON.stringify({
    name: 'l7',
    value: m.httpNonHttp,
    unit: 'ns/packet',
    emptyNs: m.empty,
    dnsNonDnsNs: m.dnsNonDns,
    dnsQueryNs: m.dnsQuery,
    allProbesNonHttpNs: m.allNonHttp,
    dnsPairsPerSec: Math.round(dnsPairsPerSec),
    httpExchangesPerSec: Math.round(httpPerSec),
    repeat: REPEAT,
    rounds: ROUNDS,
    loadAvg1: Number((loadavg()[0] ?? 0).toFixed(2)),
    smoke: SMOKE,
  }));
} finally {
  consumer?.stop();
  for (const o of loaded) o.release();
  emptyObj.close();
}
