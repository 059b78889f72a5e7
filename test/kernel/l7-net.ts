// What the L7 kernel tests share besides the pods (./pod-net.ts): a probe
// context collecting records, waiting, and the client and server scripts.
import type { FlowRecord } from '../../src/pipeline/types.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';

/** A ProbeContext whose ingress collects records, for probes under test. */
export function testContext(): ProbeContext & { records: FlowRecord[] } {
  const records: FlowRecord[] = [];
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  return {
    records,
    nodeName: 'pfl-node',
    clock: new MonotonicClock(),
    ingress: { ingest: (r) => void records.push(...r) },
    interfaces,
    objectDir: new URL('../../../bpf/build/', import.meta.url).pathname,
  };
}

/** Waits until `cond` holds, polling; throws with `what` after timeoutMs (generous: a loaded machine can take seconds). */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Seconds + nanos of a Duration as milliseconds. */
export function ms(d: { seconds?: number | null; nanos?: number | null } | null | undefined): number {
  return (Number(d?.seconds ?? 0) * 1e9 + Number(d?.nanos ?? 0)) / 1e6;
}

/**
 * Answers after ?delay=<ms>; /missing is a 404, /boom a 500. Prints, per request,
 * how long it really held it (timers fire late on a busy machine).
 */
export const HTTP_SERVER = `
const http = require('node:http');
const [host, port] = process.argv.slice(1);
http.createServer((req, res) => {
  const t0 = process.hrtime.bigint();
  const u = new URL(req.url, 'http://x');
  req.resume();
  req.on('end', () => setTimeout(() => {
    const status = u.pathname === '/missing' ? 404 : u.pathname === '/boom' ? 500 : 200;
    const heldMs = Number(process.hrtime.bigint() - t0) / 1e6;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('body\\n');
    console.log(JSON.stringify({ port: req.socket.remotePort, path: req.url, ms: heldMs }));
  }, Number(u.searchParams.get('delay') ?? 0)));
}).listen(Number(port), host, () => console.log('ready'));
`;

/** Sends "METHOD path" requests one after another on one keep-alive connection; prints one JSON line each. */
export const HTTP_CLIENT = `
const http = require('node:http');
const [host, port, ...requests] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
(async () => {
  for (const r of requests) {
    const [method, path] = r.split(' ');
    const t0 = process.hrtime.bigint();
    const line = await new Promise((resolve, reject) => {
      const req = http.request({ host, port: Number(port), method, path, agent, headers: { host: 'backend.pfl.test' } }, (res) => {
        const first = process.hrtime.bigint();
        const localPort = res.socket.localPort;
        res.resume();
        res.on('end', () => resolve({ method, path, status: res.statusCode, ms: Number(first - t0) / 1e6, localPort }));
      });
      req.on('error', reject);
      req.end(method === 'POST' ? 'payload' : undefined);
    });
    console.log(JSON.stringify(line));
  }
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
`;

export interface ClientResult {
  method: string;
  path: string;
  status: number;
  ms: number;
  localPort: number;
}

export function parseClientOutput(out: string): ClientResult[] {
  return out.trim().split('\n').map((l) => JSON.parse(l) as ClientResult);
}

/**
 * One DNS query over UDP, timed tightly around the socket calls: the clock
 * starts before send() and stops in the response callback, so the time the
 * kernel saw lies inside it. Prints {"id","ms","rcode","port"}.
 */
export const DNS_CLIENT = `
const dgram = require('node:dgram');
const [server, name, qtype] = process.argv.slice(1);
const id = Math.floor(Math.random() * 65536);
const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
const head = Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
const q = Buffer.concat([head, ...labels, Buffer.from([0, 0, Number(qtype), 0, 1])]);
const s = dgram.createSocket('udp4');
let t0;
s.on('message', (m) => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(JSON.stringify({ id, ms, rcode: m[3] & 15, port: s.address().port }));
  s.close();
});
s.bind(0, () => { t0 = process.hrtime.bigint(); s.send(q, 53, server); });
setTimeout(() => { console.error('no response'); process.exit(1); }, 30000).unref();
`;

export interface DnsClientResult {
  id: number;
  ms: number;
  rcode: number;
  port: number;
}
