// Known FlowRecords for the sink e2e tests: every record type, pods with
// workloads, and one fully populated HTTP record whose protoc rendering is
// written out by hand below.
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';

const T = podflow.v1.RecordType;

function pod(name: string, workload: string, ns = 'shop') {
  return { name, namespace: ns, uid: `uid-${name}`, workload: { kind: 'Deployment', name: workload } };
}

/** The HTTP record every test checks field by field. */
export function httpRecord(node: string): FlowRecord {
  return {
    id: `${node}/boot1/1`,
    time: { seconds: 1796000000, nanos: 250000000 },
    conversationId: 'conv-http',
    type: T.HTTP,
    nodeName: node,
    source: { ip: '10.233.1.10', port: 40000, pod: pod('frontend-7d9', 'frontend') },
    destination: { ip: '10.233.1.20', port: 8080, pod: pod('backend-5c2', 'backend'), service: { name: 'backend', namespace: 'shop' } },
    transport: { protocol: podflow.v1.Protocol.TCP, ipVersion: 4 },
    interface: { name: 'pfd-veth0', index: 7 },
    http: { method: 'GET', path: '/api/users', status: 200, latency: { seconds: 0, nanos: 325000000 }, host: 'backend', version: 'HTTP/1.1' },
    observation: { probe: 'http', hook: 'tc', side: podflow.v1.Side.SERVER },
  };
}

/** protoc --decode=podflow.v1.FlowRecord of httpRecord("pfd-node"). */
export const HTTP_RECORD_PROTOC_TEXT = `id: "pfd-node/boot1/1"
time {
  seconds: 1796000000
  nanos: 250000000
}
conversation_id: "conv-http"
type: HTTP
node_name: "pfd-node"
source {
  ip: "10.233.1.10"
  port: 40000
  pod {
    name: "frontend-7d9"
    namespace: "shop"
    uid: "uid-frontend-7d9"
    workload {
      kind: "Deployment"
      name: "frontend"
    }
  }
}
destination {
  ip: "10.233.1.20"
  port: 8080
  pod {
    name: "backend-5c2"
    namespace: "shop"
    uid: "uid-backend-5c2"
    workload {
      kind: "Deployment"
      name: "backend"
    }
  }
  service {
    name: "backend"
    namespace: "shop"
  }
}
transport {
  protocol: TCP
  ip_version: 4
}
interface {
  name: "pfd-veth0"
  index: 7
}
http {
  method: "GET"
  path: "/api/users"
  status: 200
  latency {
    nanos: 325000000
  }
  host: "backend"
  version: "HTTP/1.1"
}
observation {
  probe: "http"
  hook: "tc"
  side: SERVER
}
`;

const TYPES = [T.FLOW, T.TCP_OPEN, T.TCP_CLOSE, T.TCP_FAILED, T.TCP_RESET, T.RETRANSMIT, T.DROP, T.DNS, T.LOSS];

/**
 * `count` records after the HTTP record: the types above in turn over
 * `conversations` conversations, both directions of each (source and
 * destination swapped), so the key test sees both directions.
 */
export function knownRecords(node: string, count: number, conversations = 6, firstSeq = 2): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let i = 0; i < count; i++) {
    const conv = i % conversations;
    const a = { ip: `10.233.2.${conv + 1}`, port: 41000 + conv, pod: pod(`client-${conv}`, `client${conv % 2}`) };
    const b = { ip: '10.233.3.1', port: 5432, pod: pod('db-0', 'db', 'data') };
    const reverse = Math.floor(i / conversations) % 2 === 1;
    const type = TYPES[i % TYPES.length];
    const seq = firstSeq + i;
    const r: FlowRecord = {
      id: `${node}/boot1/${seq}`,
      time: { seconds: 1796000000 + i, nanos: 0 },
      conversationId: `conv-${conv}`,
      type,
      nodeName: node,
      source: reverse ? b : a,
      destination: reverse ? a : b,
      transport: { protocol: podflow.v1.Protocol.TCP, ipVersion: 4 },
      observation: { probe: 'test', hook: 'fixture' },
    };
    if (type === T.FLOW) r.traffic = { bytes: 1000 + i, packets: 2 + (i % 3) };
    if (type === T.TCP_CLOSE) r.tcp = { srtt: { nanos: 1_500_000 }, retransmits: 2, duration: { seconds: 3 } };
    if (type === T.TCP_FAILED) r.tcp = { failure: 'REFUSED', state: 'SYN_SENT' };
    if (type === T.RETRANSMIT) r.tcp = { retransmits: 3 };
    if (type === T.DROP) r.drop = { reason: 'TCP_LISTEN_OVERFLOW', code: 3, count: 1 };
    if (type === T.DNS) r.dns = { id: 7, query: 'db.data.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answers: ['10.233.3.1'], latency: { nanos: 800_000 } };
    if (type === T.LOSS) r.loss = { stage: 'ringbuf', reason: 'ringbuf_full', count: 5 };
    out.push(r);
  }
  return out;
}
