// Red team, round 2: packets a hostile pod can send that its peer accepts and
// serves, but that the packet object (bpf/packet.bpf.c: flows, dns, http) keyed
// wrongly or did not see, without counting anything. Each needs CAP_NET_RAW in
// the pod's network namespace, which is in the default capabilities of a
// container (Docker, containerd, CRI-O: NET_RAW), so any pod not run under the
// "restricted" Pod Security Standard has it:
// - an IPv6 destination options header (setsockopt IPV6_DSTOPTS on an ordinary
//   TCP or UDP socket) in front of the transport header;
// - a DNS query in IPv4 fragments, the first holding the UDP header only;
// - an HTTP request whose first copy (a harmless one, bad TCP checksum: the
//   server's kernel drops it) is followed by the real one under the same
//   sequence number;
// - an HTTP request in one TCP segment sent as two IP fragments (Linux never
//   fragments TCP), the first ending inside the path.
// And two that need nothing: a request line written in two parts (TCP_NODELAY),
// the first shorter than the 8 bytes the kernel tests for a method ("GE", then
// "T /admin ..."), or ending inside the path ("GET /", then "admin ..."): the
// server reads one request line from the stream.
// The server's own log and the client's answers are the ground truth: the
// traffic either becomes records that say what was served, or a loss is
// counted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { dnsPlan } from '../../src/probes/dns/plan.js';
import { flowsPlan } from '../../src/probes/flows/plan.js';
import { httpPlan } from '../../src/probes/http/plan.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { L7PacketProbe } from '../../src/probes/shared/l7-packet-probe.js';
import type { AttachedProbe } from '../../src/probes/shared/probe.js';
import { testContext, waitFor } from './l7-net.js';
import { PodNet, sh } from './pod-net.js';

const { RecordType, Protocol } = podflow.v1;
const SUBNET = '10.251.20';
const SERVER = `${SUBNET}.80`;
const CLIENT = `${SUBNET}.2`;
const SERVER6 = 'fd00:251:20::80';
const CLIENT6 = 'fd00:251:20::2';
let net: PodNet;
let ctx: ReturnType<typeof testContext>;
const probes: AttachedProbe[] = [];
let ticker: NodeJS.Timeout | undefined;
const served: string[] = [];

/** HTTP on [::]:8080 (prints "METHOD path" per request) and DNS on [::]:53/udp (answers the question asked with A 192.0.2.7). */
const SERVER_JS = `
const dgram = require('node:dgram');
require('node:http').createServer((req, res) => { console.log(req.method + ' ' + req.url); res.end('ok\\n'); })
  .listen(8080, '::', () => {
    const u = dgram.createSocket({ type: 'udp6' });
    u.on('message', (q, from) => {
      let end = 12;
      while (q[end] !== 0) end += q[end] + 1;
      const question = q.subarray(12, end + 5);
      const head = Buffer.from([q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
      const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
      u.send(Buffer.concat([head, question, rr]), from.port, from.address);
    });
    u.bind(53, '::', () => console.log('ready'));
  });
`;

/** The hostile client: one mode per attack (see the top); prints {"port": <its source port>} once answered. */
const CLIENT_PY = `
import json, socket, struct, sys, time
mode, server = sys.argv[1], sys.argv[2]
IPV6_DSTOPTS = 59
# A destination options header of 8 bytes: next header (the kernel fills it in), length 0, PadN of 4.
DSTOPTS = bytes([0, 0, 1, 4, 0, 0, 0, 0])

def query(qid, name):
    labels = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.'))
    return struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + labels + b'\\0\\0\\1\\0\\1'

def http_answer(s):
    got = b''
    while b'\\r\\n\\r\\n' not in got:
        got += s.recv(4096)
    return got

def csum(data):
    if len(data) % 2:
        data += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

s = None
if mode == 'ext6-http':
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, DSTOPTS)
    s.connect((server, 8080))
    s.sendall(b'GET /admin/ext6 HTTP/1.1\\r\\nHost: backend\\r\\n\\r\\n')
    http_answer(s)
elif mode == 'ext6-dns':
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, DSTOPTS)
    s.settimeout(3)
    s.sendto(query(int(sys.argv[3]), sys.argv[4]), (server, 53))
    s.recvfrom(512)
elif mode == 'frag-dns':
    # The answer comes back to an ordinary socket; the query leaves in two fragments by hand.
    src = sys.argv[3]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(3)
    msg = query(int(sys.argv[4]), sys.argv[5])
    udp = struct.pack('!HHHH', s.getsockname()[1], 53, 8 + len(msg), 0) + msg
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for off, more, part in ((0, 1, udp[:8]), (1, 0, udp[8:])):
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(part), 0x5151, (more << 13) | off, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(server))
        raw.sendto(ip + part, (server, 0))
    s.recvfrom(512)
else:
    # Learn the connection's sequence numbers from its handshake, seen on the pod's own interface.
    src = sys.argv[3]
    # ETH_P_ALL: a socket of one protocol is not given the frames its own host sends.
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    sniff.bind(('eth0', 3))
    sniff.settimeout(3)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((server, 8080))
    port = s.getsockname()[1]
    isn = peer_isn = None
    while isn is None or peer_isn is None:
        f = sniff.recv(2048)
        ihl = (f[14] & 15) * 4
        if f[12:14] != b'\\x08\\x00' or f[23] != 6:
            continue
        sp, dp, seq = struct.unpack('!HHI', f[14 + ihl:22 + ihl])
        flags = f[14 + ihl + 13]
        if sp == port and flags & 0x12 == 0x02:
            isn = seq
        elif dp == port and flags & 0x12 == 0x12:
            peer_isn = seq
    def segment(payload, bad, seq=0, flags=0x18):
        seg = struct.pack('!HHIIBBHHH', port, 8080, (isn + 1 + seq) & 0xffffffff, (peer_isn + 1) & 0xffffffff, 0x50, flags, 64240, 0, 0) + payload
        good = csum(socket.inet_aton(src) + socket.inet_aton(server) + struct.pack('!BBH', 0, 6, len(seg)) + seg)
        return seg[:16] + struct.pack('!H', good ^ 0x5a5a if bad else good) + seg[18:]
    if mode == 'csum-http':
        decoy, real = sys.argv[4].encode(), [p.encode() for p in json.loads(sys.argv[5])]
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).sendto(segment(decoy, True), (server, 0))
        for part in real:
            time.sleep(0.05)
            s.sendall(part)
        http_answer(s)
    else:
        # frag-http: the request as the socket's first bytes, in two fragments: TCP header and 12 bytes, then the rest.
        seg = segment(sys.argv[4].encode(), False)
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        for off, more, part in ((0, 1, seg[:32]), (4, 0, seg[32:])):
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(part), 0x5252, (more << 13) | off, 64, 6, 0,
                             socket.inet_aton(src), socket.inet_aton(server))
            raw.sendto(ip + part, (server, 0))
        # The answer acknowledges bytes this socket never sent: its kernel drops it. The server's log tells.
        time.sleep(0.3)
        # Neither side may linger (an orphan socket would keep the namespace, and its veth, for minutes):
        # a reset at the server's next expected byte, and this socket closed without a FIN.
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).sendto(segment(b'', False, len(sys.argv[4]), 0x14), (server, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
print(json.dumps({'port': s.getsockname()[1]}))
`;

/** Writes each part of argv[2] (a JSON array) 50 ms apart on one connection (TCP_NODELAY), waits for the response, prints {"port"}. */
const PARTS_CLIENT = `
const [host, parts] = process.argv.slice(1);
const c = require('node:net').connect(8080, host, async () => {
  c.setNoDelay(true);
  for (const p of JSON.parse(parts)) { c.write(p); await new Promise((r) => setTimeout(r, 50)); }
});
let got = '';
c.on('data', (d) => { got += d; if (got.includes('\\r\\n\\r\\n')) { console.log(JSON.stringify({ port: c.localPort })); c.end(); } });
setTimeout(() => { console.error('no response: ' + JSON.stringify(got)); process.exit(1); }, 30000).unref();
`;

async function attack(mode: string, ...args: string[]): Promise<number> {
  const out = await net.run('cli', 'python3', ['-c', CLIENT_PY, mode, ...args]);
  return (JSON.parse(out) as { port: number }).port;
}

function lossTotal(): number {
  return probes.flatMap((p) => p.losses()).reduce((n, l) => n + l.count, 0);
}

function lossesText(): string {
  return JSON.stringify(probes.flatMap((p) => p.losses()).filter((l) => l.count > 0));
}

/**
 * Records of one type from or to this client port, once `count` are there, or a loss was counted since the
 * test's `lossesBefore` (for a test that accepts a counted loss instead), or the wait ran out (the records
 * come in milliseconds; the deadline is for a loaded machine).
 */
async function recordsOf(type: podflow.v1.RecordType, port: number, count = 1, lossesBefore = Infinity): Promise<FlowRecord[]> {
  const ours = () => ctx.records.filter((r) => r.type === type && (r.source?.port === port || r.destination?.port === port));
  await waitFor(`${count} records of type ${type} of port ${port}`, () => ours().length >= count || lossTotal() > lossesBefore, 30_000).catch(() => undefined);
  return ours();
}

before(async () => {
  net = new PodNet('rt2', SUBNET, [
    { name: 'srv', host: 80 },
    { name: 'cli', host: 2 },
  ]);
  net.exec('srv', 'ip', ['addr', 'add', `${SERVER6}/64`, 'dev', 'eth0', 'nodad']);
  net.exec('cli', 'ip', ['addr', 'add', `${CLIENT6}/64`, 'dev', 'eth0', 'nodad']);
  ctx = testContext();
  const server = net.spawn('srv', process.execPath, ['-e', SERVER_JS]);
  await PodNet.ready(server, 'the HTTP and DNS server');
  server.stdout?.on('data', (d: Buffer) => served.push(...d.toString().split('\n').filter((l) => /^[A-Z]+ \//.test(l))));
  const interfaces = ['rt2*'];
  for (const plan of [
    flowsPlan({ interfaces, activeTimeoutMs: 60_000, idleTimeoutMs: 300 }),
    dnsPlan({ interfaces, timeoutMs: 1000 }),
    httpPlan({ interfaces, timeoutMs: 2000 }),
  ]) {
    const candidate = plan.candidates.find((c) => c.hook === 'tc');
    assert.ok(candidate, 'a tc candidate');
    probes.push(candidate.attach(ctx));
  }
  ticker = setInterval(() => {
    for (const p of probes) p.tick?.(MonotonicClock.nowNs());
  }, 50);
  // The handshake of a fresh IPv6 neighbour must not be part of the first test.
  net.exec('cli', 'ping', ['-6', '-c1', '-W2', SERVER6]);
});

after(() => {
  if (ticker) clearInterval(ticker);
  for (const p of probes) p.close();
  net?.destroy();
});

test('IPv6 with a destination options header: the flow keyed by its TCP ports, the HTTP request recorded', async () => {
  const port = await attack('ext6-http', SERVER6);
  await waitFor('the server to log the request', () => served.includes('GET /admin/ext6'));
  const http = await recordsOf(RecordType.HTTP, port);
  const flows = await recordsOf(RecordType.FLOW, port);
  const tcpdump = `flows of ${CLIENT6}: ${JSON.stringify(ctx.records.filter((r) => r.type === RecordType.FLOW && r.source?.ip === CLIENT6).map((r) => [r.transport?.protocol, r.source?.port, r.destination?.port, r.traffic?.packets]))}`;
  assert.ok(
    http.some((r) => r.http?.path === '/admin/ext6' && r.http?.status === 200) &&
      flows.some((r) => r.transport?.protocol === Protocol.TCP && r.destination?.port === 8080),
    `the server served GET /admin/ext6 to [${CLIENT6}]:${port}; http: ${JSON.stringify(http.map((r) => r.http))}; ${tcpdump}; losses ${lossesText()}`,
  );
});

test('IPv6 with a destination options header: the DNS query recorded', async () => {
  const port = await attack('ext6-dns', SERVER6, '4646', 'ext6.exfil.rt2.test');
  const dns = await recordsOf(RecordType.DNS, port);
  assert.ok(
    dns.some((r) => r.dns?.query === 'ext6.exfil.rt2.test' && r.dns?.rcode === 'NOERROR'),
    `the server answered ext6.exfil.rt2.test to [${CLIENT6}]:${port}; dns: ${JSON.stringify(dns.map((r) => r.dns))}; losses ${lossesText()}`,
  );
});

test('a DNS query in IPv4 fragments (the first holding the UDP header only): recorded, or its loss counted', async () => {
  const before = lossTotal();
  const port = await attack('frag-dns', SERVER, CLIENT, '5151', 'frag.exfil.rt2.test');
  const dns = await recordsOf(RecordType.DNS, port, 1, before);
  assert.ok(
    dns.some((r) => r.dns?.query === 'frag.exfil.rt2.test') || lossTotal() > before,
    `the server answered frag.exfil.rt2.test to ${CLIENT}:${port}; dns: ${JSON.stringify(dns.map((r) => r.dns))}; losses ${lossesText()}`,
  );
});

const DECOY = 'GET /healthz HTTP/1.1\r\nHost: backend\r\n\r\n';
for (const [what, decoy, parts] of [
  ['in one segment', DECOY, ['GET /admin/drop-all HTTP/1.1\r\nHost: backend\r\n\r\n']],
  ['its first segment one byte ("G")', DECOY, ['G', 'ET /admin/one-byte HTTP/1.1\r\nHost: backend\r\n\r\n']],
  ['its first segment the copy\'s first 8 bytes ("GET /hea")', DECOY, ['GET /hea', 'p-dump HTTP/1.1\r\nHost: backend\r\n\r\n']],
  ['after a copy of its first byte only ("G")', 'G', ['GET /admin/after-g HTTP/1.1\r\nHost: backend\r\n\r\n']],
  ['after a copy cut in its path ("GET /adm")', 'GET /adm', ['GET /admin/after-cut HTTP/1.1\r\nHost: backend\r\n\r\n']],
] as const) {
  test(`a request (${what}) under the sequence number of a copy with a bad checksum: the served one recorded, or the conflict counted`, async () => {
    const before = lossTotal();
    const path = parts.join('').split(' ')[1] ?? '';
    const port = await attack('csum-http', SERVER, CLIENT, decoy, JSON.stringify(parts));
    await waitFor('the server to log the request', () => served.includes(`GET ${path}`));
    assert.ok(!served.includes('GET /healthz'), 'the server never saw the copy with the bad checksum');
    const http = await recordsOf(RecordType.HTTP, port, 1, before);
    await sleep(100);
    const paths = http.map((r) => r.http?.path);
    assert.ok(
      (paths.includes(path) && !paths.includes('/healthz')) || lossTotal() > before,
      `the server served only GET ${path} to ${CLIENT}:${port}; http records: ${JSON.stringify(paths)}; losses ${lossesText()}; ` +
        `TcpInCsumErrors in the server: ${sh('ip', ['netns', 'exec', 'rt2-srv', 'nstat', '-az', 'TcpInCsumErrors']).split('\n')[1] ?? ''}`,
    );
  });
}

test('an HTTP request in IP fragments, the first ending inside the path: the served path recorded, or a loss counted', async () => {
  const before = lossTotal();
  const port = await attack('frag-http', SERVER, CLIENT, 'GET /api/admin/frag HTTP/1.1\r\nHost: backend\r\n\r\n');
  await waitFor('the server to log the request', () => served.includes('GET /api/admin/frag'));
  // Not ended by the loss: a record of another path, arriving after it, must still fail the test.
  const http = await recordsOf(RecordType.HTTP, port);
  const paths = http.map((r) => r.http?.path);
  assert.ok(
    paths.some((p) => p === '/api/admin/frag') || (lossTotal() > before && paths.every((p) => p === '/api/admin/frag')),
    `the server served GET /api/admin/frag to ${CLIENT}:${port}; http records: ${JSON.stringify(http.map((r) => r.http))}; losses ${lossesText()}`,
  );
});

for (const [what, parts, path] of [
  ['the first part shorter than a method and its space ("GE")', ['GE', 'T /admin/split HTTP/1.1\r\nHost: backend\r\n\r\n'], '/admin/split'],
  ['the first part ending inside the path ("GET /")', ['GET /', 'admin/cut HTTP/1.1\r\nHost: backend\r\n\r\n'], '/admin/cut'],
  ['the first part a request line cut in its path ("GET /api")', ['GET /api', '/admin/cut-long HTTP/1.1\r\nHost: backend\r\n\r\n'], '/api/admin/cut-long'],
  ['three parts, the path across all of them', ['G', 'ET /admin', '/three-parts HTTP/1.1\r\nHost: backend\r\n\r\n'], '/admin/three-parts'],
] as const) {
  test(`a request line written in parts, ${what}: the path the server served recorded`, async () => {
    const out = await net.run('cli', process.execPath, ['-e', PARTS_CLIENT, SERVER, JSON.stringify(parts)]);
    const port = (JSON.parse(out) as { port: number }).port;
    await waitFor('the server to log the request', () => served.includes(`GET ${path}`));
    const http = await recordsOf(RecordType.HTTP, port);
    const paths = http.map((r) => r.http?.path);
    assert.ok(
      paths.length === 1 && paths[0] === path && http[0]?.http?.status === 200 && http[0]?.http?.host === 'backend',
      `the server served GET ${path} to ${CLIENT}:${port}; http: ${JSON.stringify(http.map((r) => r.http))}; losses ${lossesText()}`,
    );
  });
}

test('no request line is left counted open once its exchanges are over', async () => {
  // The kernel's count of open request lines (bpf/include/http.h: http_open_lines, its last slot the
  // node's total) gates the lookup a data segment pays; a line counted and never closed costs every
  // segment of the node that lookup.
  const open = (probes[2] as L7PacketProbe).object.map('http_open_lines');
  const total = (): bigint => {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(1024);
    return open.lookup(key)?.readBigInt64LE(0) ?? -1n;
  };
  await waitFor('no open request line', () => total() === 0n, 30_000).catch(() => undefined);
  assert.equal(total(), 0n);
});
