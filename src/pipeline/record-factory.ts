// Where every FlowRecord and its sub-messages that change per record are made,
// so the records of every probe share one hidden class per message: every field
// of the schema present, in schema order, absent ones undefined (the encoders
// treat undefined as absent, as they treat a missing field). The stages and
// encoders then read records with monomorphic property loads, and the enricher
// fills endpoint slots that already exist instead of adding properties (which
// would move each record to a new shape). Sub-messages that repeat across
// records (transport, observation, interface) are shared frozen objects: fewer
// bytes per record to allocate and to copy through the young generation.
import { podflow } from '../proto/gen/flow.js';
import type { FlowRecord } from './types.js';

type Endpoint = podflow.v1.IEndpoint;
type Tcp = podflow.v1.ITcp;
type Dns = podflow.v1.IDns;
type Transport = Readonly<podflow.v1.ITransport>;
type Observation = Readonly<podflow.v1.IObservation>;

/** A record of `type` with every field present, the others undefined (filled by the caller). */
export function newRecord(type: podflow.v1.RecordType, nodeName: string): FlowRecord {
  return {
    id: undefined,
    time: undefined,
    startTime: undefined,
    conversationId: undefined,
    type,
    nodeName,
    source: undefined,
    destination: undefined,
    transport: undefined,
    interface: undefined,
    direction: undefined,
    traffic: undefined,
    tcp: undefined,
    process: undefined,
    drop: undefined,
    dns: undefined,
    http: undefined,
    loss: undefined,
    observation: undefined,
    originalDestination: undefined,
  };
}

/** A wall-clock time in ms (Date.now()) as a Timestamp; nanos kept a Smi (see src/probes/shared/clock.ts). */
export function timestampFromMs(ms: number): NonNullable<FlowRecord['time']> {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: ((ms - seconds * 1000) * 1e6) | 0 };
}

/** An endpoint with the metadata slots the enricher fills. */
export function newEndpoint(ip: string, port: number): Endpoint {
  return { ip, port, pod: undefined, service: undefined, node: undefined, hostNetwork: undefined, network: undefined };
}

/** The Tcp message with every field present (filled by the caller). */
export function newTcp(): Tcp {
  return { flags: undefined, srtt: undefined, retransmits: undefined, duration: undefined, state: undefined, failure: undefined };
}

// Frozen Tcp messages that carry flags only (FLOW records), by flags value: a
// node's conversations show a handful of flag combinations.
const tcpByFlags: (Readonly<Tcp> | undefined)[] = new Array<Readonly<Tcp> | undefined>(256).fill(undefined);

/** The frozen Tcp message of a FLOW record: `flags` (one byte of TCP flags) and nothing else. */
export function tcpFlagsOf(flags: number): Readonly<Tcp> {
  const i = flags & 255;
  let shared = tcpByFlags[i];
  if (shared === undefined) {
    const tcp = newTcp();
    tcp.flags = i;
    tcpByFlags[i] = shared = Object.freeze(tcp);
  }
  return shared;
}

/**
 * The Traffic message. Made with its fields undefined, then filled: a literal
 * of numbers would give its hidden class Double fields (the counters come out
 * of double arithmetic), and then every field is a HeapNumber box of its own,
 * four allocations more per record; filled after, they are tagged fields that
 * hold small counts as Smis.
 */
export function newTraffic(bytes: number, packets: number, bytesReceived: number, packetsReceived: number): NonNullable<FlowRecord['traffic']> {
  const t: NonNullable<FlowRecord['traffic']> = { bytes: undefined, packets: undefined, bytesReceived: undefined, packetsReceived: undefined };
  t.bytes = bytes;
  t.packets = packets;
  t.bytesReceived = bytesReceived;
  t.packetsReceived = packetsReceived;
  return t;
}

/** The Process message (containerId '' until the enricher resolves it); tagged fields as newTraffic's. */
export function newProcess(pid: number, command: string, cgroupId: number): NonNullable<FlowRecord['process']> {
  const p: NonNullable<FlowRecord['process']> = { pid: undefined, command: undefined, cgroupId: undefined, containerId: '' };
  p.pid = pid;
  p.command = command;
  p.cgroupId = cgroupId;
  return p;
}

/** The Dns message with every field present (latency set by the caller when answered). */
export function newDns(id: number, query: string, qtype: string, rcode: string, answers: string[], truncated: boolean): Dns {
  return { id, query, qtype, rcode, answers, latency: undefined, truncated };
}

// Shared frozen transports by IP version (4 or 6) and IANA protocol number.
const transports: (Transport | undefined)[] = new Array<Transport | undefined>(512).fill(undefined);

/** The frozen Transport of (protocol, ipVersion): one object per combination. */
export function transportOf(protocol: number, ipVersion: number): Transport {
  const i = (ipVersion === 6 ? 256 : 0) + (protocol & 255);
  const shared = transports[i];
  if (shared !== undefined && shared.ipVersion === ipVersion) return shared;
  const made = Object.freeze({ protocol: protocol as podflow.v1.Protocol, ipVersion });
  // Only versions 4 and 6 are kept (anything else is not a record's IP version and is made each time).
  if (ipVersion === 4 || ipVersion === 6) transports[i] = made;
  return made;
}

/**
 * Frozen Observation messages of one probe, by hook and side. A probe has a
 * few hooks at most (the L7 probes use TC on some interfaces and the socket
 * filter on others), so the map stays small; it starts over past MAX_HOOKS in
 * case a caller passes hook names that vary.
 */
export class Observations {
  static readonly MAX_HOOKS = 16;
  readonly #byHook = new Map<string, (Observation | undefined)[]>();

  constructor(readonly probe: string) {}

  of(hook: string, side: podflow.v1.Side = podflow.v1.Side.UNKNOWN): Observation {
    let bySide = this.#byHook.get(hook);
    if (bySide === undefined) {
      if (this.#byHook.size >= Observations.MAX_HOOKS) this.#byHook.clear();
      bySide = [];
      this.#byHook.set(hook, bySide);
    }
    return (bySide[side] ??= Object.freeze({ probe: this.probe, hook, side }));
  }
}
