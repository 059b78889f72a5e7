// Sample records of every type, shared by the pipeline and encoder tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord, Sink } from '../../src/pipeline/types.js';

const T = podflow.v1.RecordType;
const time = { seconds: 1764504001, nanos: 123000000 };

/** Pods as the enricher attaches them: shared and frozen. */
export function frozenPod(pod: podflow.v1.IPod): podflow.v1.IPod {
  if (pod.labels) Object.freeze(pod.labels);
  if (pod.workload) Object.freeze(pod.workload);
  return Object.freeze(pod);
}

export const frontend: podflow.v1.IEndpoint = {
  ip: '10.236.1.10',
  port: 43512,
  pod: frozenPod({ name: 'frontend-7d9', namespace: 'default', uid: 'uid-fe', labels: { app: 'frontend', tier: 'web' }, workload: { kind: 'Deployment', name: 'frontend' } }),
  node: 'node-a',
};
export const backend: podflow.v1.IEndpoint = {
  ip: '10.236.2.20',
  port: 8080,
  pod: frozenPod({ name: 'backend-5c2', namespace: 'default', uid: 'uid-be', labels: { app: 'backend' }, workload: { kind: 'Deployment', name: 'backend' } }),
  service: { name: 'backend', namespace: 'default' },
  node: 'node-b',
};
export const outside: podflow.v1.IEndpoint = { ip: '203.0.113.7', port: 443, network: 'partner-api' };
export const dnsServer: podflow.v1.IEndpoint = { ip: 'fd00::53', port: 53, pod: { name: 'coredns-abc', namespace: 'kube-system' } };

function base(type: podflow.v1.RecordType, extra: FlowRecord): FlowRecord {
  return {
    id: `node-a/b00t/${type}`,
    time,
    conversationId: 'c0ffee',
    type,
    nodeName: 'node-a',
    source: frontend,
    destination: backend,
    transport: { protocol: podflow.v1.Protocol.TCP, ipVersion: 4 },
    observation: { probe: 'tcp', hook: 'tracepoint/sock/inet_sock_set_state', side: podflow.v1.Side.CLIENT },
    ...extra,
  };
}

/** One fully populated record of each type, keyed by type name. */
/** The server socket's TCP_CLOSE of the connection `client` (a client's TCP_CLOSE) describes: it counts what the server sent as bytes. */
export function serverViewOfClose(client: FlowRecord): FlowRecord {
  const t = client.traffic;
  return {
    ...client,
    traffic: { bytes: t?.bytesReceived, packets: t?.packetsReceived, bytesReceived: t?.bytes, packetsReceived: t?.packets },
    observation: { ...client.observation, side: podflow.v1.Side.SERVER },
  };
}

export function sampleRecords(): Record<string, FlowRecord> {
  return {
    FLOW: base(T.FLOW, {
      startTime: { seconds: 1764503991, nanos: 0 },
      interface: { name: 'eth0', index: 2 },
      direction: podflow.v1.Direction.EGRESS,
      traffic: { bytes: 123456, packets: 90, bytesReceived: 9876543210, packetsReceived: 70 },
      tcp: { flags: 0x1b },
      observation: { probe: 'flows', hook: 'tc', side: podflow.v1.Side.UNKNOWN },
    }),
    TCP_OPEN: base(T.TCP_OPEN, { tcp: { state: 'ESTABLISHED', srtt: { seconds: 0, nanos: 250000 } } }),
    TCP_CLOSE: base(T.TCP_CLOSE, {
      startTime: { seconds: 1764503000, nanos: 500 },
      traffic: { bytes: 4000, packets: 10, bytesReceived: 8000, packetsReceived: 12 },
      tcp: { duration: { seconds: 1001, nanos: 122999500 }, srtt: { seconds: 0, nanos: 1500000 }, retransmits: 2, state: 'CLOSE' },
      process: { pid: 4242, command: 'curl', cgroupId: 123456789012, containerId: 'abc123' },
    }),
    TCP_FAILED: base(T.TCP_FAILED, { destination: outside, tcp: { state: 'SYN_SENT', failure: 'REFUSED' } }),
    TCP_RESET: base(T.TCP_RESET, { tcp: { state: 'ESTABLISHED', flags: 0x04 } }),
    RETRANSMIT: base(T.RETRANSMIT, { tcp: { retransmits: 3, state: 'ESTABLISHED' } }),
    DROP: base(T.DROP, {
      direction: podflow.v1.Direction.INGRESS,
      interface: { name: 'veth1', index: 7 },
      drop: { reason: 'TCP_LISTEN_OVERFLOW', code: 73, count: 2 },
      observation: { probe: 'drops', hook: 'tracepoint/skb/kfree_skb', side: podflow.v1.Side.UNKNOWN },
    }),
    DNS: base(T.DNS, {
      destination: dnsServer,
      transport: { protocol: podflow.v1.Protocol.UDP, ipVersion: 6 },
      dns: { id: 4660, query: 'backend.default.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answers: ['10.236.2.20', '10.236.2.21'], latency: { seconds: 0, nanos: 2000000 } },
      observation: { probe: 'dns', hook: 'tc', side: podflow.v1.Side.CLIENT },
    }),
    HTTP: base(T.HTTP, {
      http: { method: 'GET', path: '/api/users', status: 200, latency: { seconds: 0, nanos: 325000000 }, host: 'backend', version: 'HTTP/1.1' },
      observation: { probe: 'http', hook: 'tc', side: podflow.v1.Side.SERVER },
    }),
    LOSS: {
      id: 'node-a/b00t/99',
      time,
      type: T.LOSS,
      nodeName: 'node-a',
      loss: { stage: 'sink:kafka', reason: 'queue_full', count: 120 },
      observation: { probe: 'agent', hook: 'pipeline' },
    },
  };
}

/** A plain deep copy (records are mutated in place by redaction and id assignment). */
export function copy<T>(value: T): T {
  return structuredClone(value);
}

/**
 * What Python's google.protobuf.json_format (the reference runtime, from
 * python3-protobuf) makes of each message: the canonical JSON to compare with.
 */
export function jsonFormatReference(messages: readonly Uint8Array[]): unknown[] {
  const dir = mkdtempSync(join(tmpdir(), 'pfp-json-'));
  try {
    execFileSync('protoc', ['-I', 'proto', `--python_out=${dir}`, 'proto/podflow/v1/flow.proto']);
    const script = [
      'import sys, json',
      `sys.path.insert(0, ${JSON.stringify(dir)})`,
      'from google.protobuf import json_format',
      'from podflow.v1 import flow_pb2',
      'for line in sys.stdin.read().split():',
      '    m = flow_pb2.FlowRecord(); m.ParseFromString(bytes.fromhex(line))',
      '    print(json.dumps(json_format.MessageToDict(m)))',
    ].join('\n');
    const input = messages.map((m) => Buffer.from(m).toString('hex')).join('\n');
    // Debian's interpreter: the one python3-protobuf is installed for.
    const out = execFileSync('/usr/bin/python3', ['-c', script], { input }).toString();
    return out.trim().split('\n').map((l) => JSON.parse(l) as unknown);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A Sink that keeps what it is given, for the stage tests that need to see
 * batching, ordering and failures (the invariant test uses the real stdout sink).
 */
export class CollectingSink implements Sink {
  readonly batches: FlowRecord[][] = [];
  ready = true;
  inFlight = 0;
  maxInFlight = 0;
  /** write() waits this long. */
  delayMs = 0;
  /** The next n write() calls reject. */
  failWrites = 0;
  started = false;
  stopped = false;
  flushed = false;

  constructor(readonly name = 'memory') {}

  get records(): FlowRecord[] {
    return this.batches.flat();
  }

  async start(): Promise<void> {
    this.started = true;
  }

  async write(records: readonly FlowRecord[]): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      if (this.failWrites > 0) {
        this.failWrites--;
        throw new Error('broker unavailable');
      }
      this.batches.push([...records]);
    } finally {
      this.inFlight--;
    }
  }

  async flush(): Promise<void> {
    this.flushed = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}
