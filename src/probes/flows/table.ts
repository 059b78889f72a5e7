// User-space side of flow aggregation. The kernel map holds per-direction,
// per-CPU counters since the last drain; FlowTable merges the CPUs, joins both
// directions into one conversation (the initiator is the side that sent a SYN,
// else the side seen first), and emits one FLOW record per conversation when it
// has been idle for idleTimeout or open for activeTimeout (then it starts a new
// interval, remembering the initiator). A record's time is the drain that last
// found packets (the end of its interval, to the drain period).
import { podflow } from '../../proto/gen/flow.js';
import type { FlowRecord } from '../../pipeline/types.js';
import { readU64 } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import { conversationId } from '../shared/conversation.js';
import { formatIp } from '../shared/ip.js';
import { FlowKey as K, FlowStats as S } from '../shared/layouts.js';

const IPPROTO_TCP = 6;

/** One direction's counters, merged over the CPUs. */
interface DirectionCounters {
  bytes: number;
  packets: number;
  firstNs: number;
  lastNs: number;
  ifindex: number;
  direction: number;
  tcpFlags: number;
  syn: boolean;
}

interface Conversation {
  id: string;
  /** The initiator's key (source = initiator), copied. */
  key: Buffer;
  forward: DirectionCounters;
  reverse: DirectionCounters;
  /** True once the initiator is known from a SYN (it no longer changes). */
  initiatorFromSyn: boolean;
}

export interface FlowTableOptions {
  activeTimeoutMs: number;
  idleTimeoutMs: number;
  /** Conversations tracked at once; beyond it, new ones are emitted at once and not remembered. */
  maxConversations: number;
  hook: () => string;
}

function emptyCounters(): DirectionCounters {
  return { bytes: 0, packets: 0, firstNs: 0, lastNs: 0, ifindex: 0, direction: 0, tcpFlags: 0, syn: false };
}

/** Zeroes the counters in place (the drain reuses one scratch object for every map entry). */
function resetCounters(c: DirectionCounters): void {
  c.bytes = 0;
  c.packets = 0;
  c.firstNs = 0;
  c.lastNs = 0;
  c.ifindex = 0;
  c.direction = 0;
  c.tcpFlags = 0;
  c.syn = false;
}

/** Sums the CPU slots of the map value at values[base..] into `into` (reset first); lastNs: when it was drained. */
export function mergeCpuSlots(values: Buffer, valueStride: number, cpus: number, into: DirectionCounters, lastNs: number, base = 0): void {
  resetCounters(into);
  for (let cpu = 0; cpu < cpus; cpu++) {
    const o = base + cpu * valueStride;
    const packets = readU64(values, o + S.packets);
    if (packets === 0) continue;
    const firstNs = readU64(values, o + S.first_ns);
    if (into.packets === 0 || firstNs < into.firstNs) {
      into.firstNs = firstNs;
      into.ifindex = values.readUInt32LE(o + S.ifindex);
      into.direction = values[o + S.direction] ?? 0;
    }
    into.bytes += readU64(values, o + S.bytes);
    into.packets += packets;
    into.tcpFlags |= values[o + S.tcp_flags] ?? 0;
    into.syn ||= values[o + S.syn] === 1;
  }
  into.lastNs = lastNs;
}

function addCounters(into: DirectionCounters, from: DirectionCounters): void {
  if (from.packets === 0) return;
  if (into.packets === 0 || from.firstNs < into.firstNs) {
    into.firstNs = from.firstNs;
    if (into.packets === 0) {
      into.ifindex = from.ifindex;
      into.direction = from.direction;
    }
  }
  into.lastNs = Math.max(into.lastNs, from.lastNs);
  into.bytes += from.bytes;
  into.packets += from.packets;
  into.tcpFlags |= from.tcpFlags;
  into.syn ||= from.syn;
}

export class FlowTable {
  readonly #ctx: ProbeContext;
  readonly #opts: FlowTableOptions;
  readonly #conversations = new Map<string, Conversation>();
  readonly #scratch = emptyCounters();

  constructor(ctx: ProbeContext, opts: FlowTableOptions) {
    this.#ctx = ctx;
    this.#opts = opts;
  }

  get size(): number {
    return this.#conversations.size;
  }

  /**
   * Adds `count` entries drained at drainNs (keys packed by K.size, per-CPU values by valueBufferSize).
   * The kernel keeps no last-seen time: an entry drained now had packets since the previous drain.
   */
  add(keys: Buffer, values: Buffer, count: number, valueBufferSize: number, cpus: number, drainNs: number, out: FlowRecord[]): void {
    const stride = valueBufferSize / cpus;
    for (let i = 0; i < count; i++) {
      const ko = i * K.size;
      mergeCpuSlots(values, stride, cpus, this.#scratch, drainNs, i * valueBufferSize);
      if (this.#scratch.packets === 0) continue;
      this.#addDirection(keys, ko, this.#scratch, out);
    }
  }

  #addDirection(keys: Buffer, ko: number, counters: DirectionCounters, out: FlowRecord[]): void {
    const ipVersion = keys[ko + K.ip_version] ?? 4;
    const protocol = keys[ko + K.protocol] ?? 0;
    const sport = keys.readUInt16LE(ko + K.sport);
    const dport = keys.readUInt16LE(ko + K.dport);
    const id = conversationId(ipVersion, protocol, keys, ko + K.saddr, sport, keys, ko + K.daddr, dport);
    let conv = this.#conversations.get(id);
    if (!conv) {
      conv = {
        id,
        key: Buffer.from(keys.subarray(ko, ko + K.size)),
        forward: emptyCounters(),
        reverse: emptyCounters(),
        initiatorFromSyn: counters.syn,
      };
      addCounters(conv.forward, counters);
      if (this.#conversations.size >= this.#opts.maxConversations) {
        out.push(this.#record(conv));
        return;
      }
      this.#conversations.set(id, conv);
      return;
    }
    const sameWay = keys.compare(conv.key, 0, K.daddr + 16, ko, ko + K.daddr + 16) === 0 && conv.key.readUInt16LE(K.sport) === sport;
    // A SYN from the other side, or an earlier first packet before any SYN was seen, makes it the initiator.
    const otherInitiates = !sameWay && !conv.initiatorFromSyn && (counters.syn || (conv.forward.packets > 0 && counters.firstNs < conv.forward.firstNs));
    if (otherInitiates) {
      conv.key = Buffer.from(keys.subarray(ko, ko + K.size));
      [conv.forward, conv.reverse] = [conv.reverse, conv.forward];
      conv.initiatorFromSyn = counters.syn;
      addCounters(conv.forward, counters);
    } else {
      addCounters(sameWay ? conv.forward : conv.reverse, counters);
      if (sameWay && counters.syn) conv.initiatorFromSyn = true;
    }
  }

  /** Emits conversations past their idle or active timeout (nowNs: monotonic, as the kernel's). */
  expire(nowNs: number, out: FlowRecord[]): void {
    const idleNs = this.#opts.idleTimeoutMs * 1e6;
    const activeNs = this.#opts.activeTimeoutMs * 1e6;
    for (const [id, conv] of this.#conversations) {
      const { forward: f, reverse: r } = conv;
      const packets = f.packets + r.packets;
      const first = packets === 0 ? 0 : Math.min(f.packets ? f.firstNs : Infinity, r.packets ? r.firstNs : Infinity);
      const last = Math.max(f.lastNs, r.lastNs);
      if (nowNs - last >= idleNs) {
        if (packets > 0) out.push(this.#record(conv));
        this.#conversations.delete(id);
      } else if (packets > 0 && nowNs - first >= activeNs) {
        out.push(this.#record(conv));
        resetCounters(conv.forward);
        resetCounters(conv.reverse);
        conv.forward.lastNs = last; // keeps the idle clock running
      }
    }
  }

  /** Emits every conversation with counters (on stop). */
  flushAll(out: FlowRecord[]): void {
    for (const conv of this.#conversations.values()) if (conv.forward.packets + conv.reverse.packets > 0) out.push(this.#record(conv));
    this.#conversations.clear();
  }

  #record(conv: Conversation): FlowRecord {
    const { key, forward: f, reverse: r } = conv;
    const ipVersion = key[K.ip_version] ?? 4;
    const protocol = key[K.protocol] ?? 0;
    // Where the conversation was observed: the initiator's packets if any were seen, else the replies'.
    const seen = f.packets > 0 ? f : r;
    const startNs = Math.min(f.packets ? f.firstNs : Infinity, r.packets ? r.firstNs : Infinity);
    const record: FlowRecord = {
      type: podflow.v1.RecordType.FLOW,
      time: this.#ctx.clock.toTimestamp(Math.max(f.lastNs, r.lastNs)),
      startTime: this.#ctx.clock.toTimestamp(startNs),
      conversationId: conv.id,
      nodeName: this.#ctx.nodeName,
      source: { ip: formatIp(key, K.saddr, ipVersion), port: key.readUInt16LE(K.sport) },
      destination: { ip: formatIp(key, K.daddr, ipVersion), port: key.readUInt16LE(K.dport) },
      transport: { protocol: protocol as podflow.v1.Protocol, ipVersion },
      interface: { index: seen.ifindex, name: this.#ctx.interfaces.name(seen.ifindex) ?? '' },
      direction: (f.packets > 0 ? f.direction : r.direction === 1 ? 2 : 1) as podflow.v1.Direction,
      traffic: { bytes: f.bytes, packets: f.packets, bytesReceived: r.bytes, packetsReceived: r.packets },
      observation: { probe: 'flows', hook: this.#opts.hook(), side: podflow.v1.Side.UNKNOWN },
    };
    if (protocol === IPPROTO_TCP) record.tcp = { flags: f.tcpFlags | r.tcpFlags };
    return record;
  }
}
