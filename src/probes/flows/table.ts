// User-space side of flow aggregation. The kernel map holds per-conversation,
// per-CPU counters of both directions since the last drain; FlowTable merges
// the CPUs, decides which side initiated the conversation (the side that sent
// a SYN, else the side seen first; a later SYN from the other side takes
// over), and emits one FLOW record per conversation when it
// has been idle for idleTimeout or open for activeTimeout (then it starts a new
// interval, remembering the initiator). A record's time is the drain that last
// found packets (the end of its interval, to the drain period).
//
// A node holds 100,000 conversations and more, so they live in typed arrays by
// slot (about 130 bytes each, see ConversationSlots) instead of one object
// graph per conversation (about 700 bytes); records are built only when
// emitted. Emission is resumable (expire/flushAll take a maximum), so the probe
// can hand records over as fast as the pipeline has room for them.
import { podflow } from '../../proto/gen/flow.js';
import { newEndpoint, newRecord, newTraffic, Observations, tcpFlagsOf, transportOf } from '../../pipeline/record-factory.js';
import type { FlowRecord } from '../../pipeline/types.js';
import { readU64 } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import { conversationId } from '../shared/conversation.js';
import { formatIp } from '../shared/ip.js';
import { FlowDir as S, FlowKey as K } from '../shared/layouts.js';
import { ConversationIndex, keyHash } from './conversation-index.js';

const IPPROTO_TCP = 6;
const INITIAL_SLOTS = 1024;

/** One direction's counters, merged over the CPUs. */
export interface DirectionCounters {
  bytes: number;
  packets: number;
  firstNs: number;
  lastNs: number;
  ifindex: number;
  direction: number;
  tcpFlags: number;
  syn: boolean;
}

export interface FlowTableOptions {
  activeTimeoutMs: number;
  idleTimeoutMs: number;
  /** Conversations tracked at once; beyond it, new ones are emitted at once and not remembered. */
  maxConversations: number;
  /** The hooks in use (the probe's attacher makes the text anew on each call: asked once per pass, not per record). */
  hook: () => string;
}

/**
 * 32-bit views of the last key buffers copied from and to (the drain's buffers and the slots'
 * keys stay the same from one entry to the next, and from one drain to the next), or null for a
 * buffer that does not start on a 4-byte boundary.
 */
let from32Of: Buffer | undefined;
let from32: Int32Array | null = null;
let to32Of: Buffer | undefined;
let to32: Int32Array | null = null;

function view32(buf: Buffer): Int32Array | null {
  return buf.byteOffset % 4 === 0 ? new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2) : null;
}

/** The key's words: addresses (4 each), both ports in one, then the rest (IP version, protocol, padding). */
const SADDR32 = K.saddr >> 2;
const DADDR32 = K.daddr >> 2;
const PORTS32 = K.sport >> 2;
const WORDS = K.size >> 2;
/** The layout copyKey's word copy assumes (checked once: the byte copy runs otherwise). */
const WORD_LAYOUT = K.saddr % 4 === 0 && K.daddr % 4 === 0 && K.sport % 4 === 0 && K.dport === K.sport + 2 && K.ip_version === K.sport + 4 && K.size % 4 === 0;

/**
 * Copies one flow key, its endpoints swapped when `reversed`: as ten 32-bit words when both
 * buffers are 4-byte aligned (the ports' word swapped by its halves), else byte by byte
 * (Buffer#copy goes through argument checks and C++, per drained entry).
 */
function copyKey(from: Buffer, at: number, reversed: boolean, to: Buffer, to0: number): void {
  if (from !== from32Of) {
    from32Of = from;
    from32 = view32(from);
  }
  if (to !== to32Of) {
    to32Of = to;
    to32 = view32(to);
  }
  const f = from32;
  const t = to32;
  if (WORD_LAYOUT && f !== null && t !== null) {
    const fa = at >> 2;
    const ta = to0 >> 2;
    if (!reversed) {
      for (let i = 0; i < WORDS; i++) t[ta + i] = f[fa + i]!;
      return;
    }
    for (let i = 0; i < 4; i++) {
      t[ta + SADDR32 + i] = f[fa + DADDR32 + i]!;
      t[ta + DADDR32 + i] = f[fa + SADDR32 + i]!;
    }
    const ports = f[fa + PORTS32]!;
    t[ta + PORTS32] = (ports >>> 16) | (ports << 16);
    for (let i = PORTS32 + 1; i < WORDS; i++) t[ta + i] = f[fa + i]!;
    return;
  }
  if (!reversed) {
    for (let i = 0; i < K.size; i++) to[to0 + i] = from[at + i]!;
    return;
  }
  for (let i = 0; i < 16; i++) {
    to[to0 + K.saddr + i] = from[at + K.daddr + i]!;
    to[to0 + K.daddr + i] = from[at + K.saddr + i]!;
  }
  for (let i = 0; i < 2; i++) {
    to[to0 + K.sport + i] = from[at + K.dport + i]!;
    to[to0 + K.dport + i] = from[at + K.sport + i]!;
  }
  for (let i = K.ip_version; i < K.size; i++) to[to0 + i] = from[at + i]!;
}

/** Zeroes `n` entries from `at` (a loop: TypedArray#fill is a builtin call, costly for a few entries per slot). */
function zero(a: Float64Array | Uint8Array, at: number, n: number): void {
  for (let i = at; i < at + n; i++) a[i] = 0;
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

/**
 * Sums one direction's CPU slots into `into` (reset first): the pf_flow_dir at values[base..] of each CPU's
 * copy of the map value (valueStride apart); lastNs: when it was drained.
 */
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

// Per-slot columns. Direction d (FWD: the initiator's packets, REV: the replies) of slot s:
// numbers at NUM * s + d * DIR_NUM + (BYTES | PACKETS | FIRST), small fields at SMALL * s + d * DIR_SMALL + ...
const FWD = 0;
const REV = 1;
const BYTES = 0;
const PACKETS = 1;
const FIRST = 2;
const DIR_NUM = 3;
/** Both directions' numbers, then the conversation's last drain with packets. */
const LAST = 2 * DIR_NUM;
const NUM = LAST + 1;
const DIRECTION = 0;
const TCP_FLAGS = 1;
const SYN = 2;
const DIR_SMALL = 3;
/** 1 once the initiator is known from a SYN (it no longer changes). */
const FROM_SYN = 2 * DIR_SMALL;
/** 1 while the slot holds a conversation. */
const USED = FROM_SYN + 1;
const SMALL = USED + 1;

/**
 * The conversations, column-wise by slot: the initiator's key (K.size bytes), 7 numbers,
 * 2 interface indexes, 8 small fields and the index hash: 40 + 56 + 8 + 8 + 4 bytes, plus the
 * index's 8 to 16.
 */
class ConversationSlots {
  keys: Buffer;
  nums: Float64Array;
  ifindex: Uint32Array;
  small: Uint8Array;
  hashes: Uint32Array;

  constructor(readonly capacity: number) {
    this.keys = Buffer.alloc(capacity * K.size);
    this.nums = new Float64Array(capacity * NUM);
    this.ifindex = new Uint32Array(capacity * 2);
    this.small = new Uint8Array(capacity * SMALL);
    this.hashes = new Uint32Array(capacity);
  }

  /** A copy with room for `capacity` slots. */
  grown(capacity: number): ConversationSlots {
    const next = new ConversationSlots(capacity);
    this.keys.copy(next.keys);
    next.nums.set(this.nums);
    next.ifindex.set(this.ifindex);
    next.small.set(this.small);
    next.hashes.set(this.hashes);
    return next;
  }
}

export class FlowTable {
  readonly #ctx: ProbeContext;
  readonly #opts: FlowTableOptions;
  readonly #observations = new Observations('flows');
  // Both directions of the entry being drained (reused for every map entry).
  readonly #forward: DirectionCounters = { bytes: 0, packets: 0, firstNs: 0, lastNs: 0, ifindex: 0, direction: 0, tcpFlags: 0, syn: false };
  readonly #backward: DirectionCounters = { bytes: 0, packets: 0, firstNs: 0, lastNs: 0, ifindex: 0, direction: 0, tcpFlags: 0, syn: false };
  #slots: ConversationSlots;
  #index: ConversationIndex;
  /** Freed slots below #highWater, reused first. */
  #free: number[] = [];
  /** Slots ever used (0..#highWater-1). */
  #highWater = 0;
  #size = 0;
  /** Where the current expiry pass goes on (slot); 0 when a pass is complete. */
  #cursor = 0;
  /**
   * The last record time made in this pass, frozen, and its drain (ns; -1: none): a record's time is
   * the drain that last found packets, so the records of a pass share a few (those that went idle
   * together were last drained together). Forgotten at every pass, where the clock may have been
   * re-measured since.
   */
  #timeNs = -1;
  #time: Readonly<NonNullable<FlowRecord['time']>> | undefined;

  constructor(ctx: ProbeContext, opts: FlowTableOptions) {
    this.#ctx = ctx;
    this.#opts = opts;
    const initial = Math.min(INITIAL_SLOTS, opts.maxConversations);
    this.#slots = new ConversationSlots(initial);
    this.#index = new ConversationIndex(initial);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Adds `count` entries drained at drainNs (keys packed by K.size, per-CPU values by valueBufferSize).
   * The kernel keeps no last-seen time: an entry drained now had packets since the previous drain.
   * A new conversation beyond maxConversations goes to `out` at once.
   */
  add(keys: Buffer, values: Buffer, count: number, valueBufferSize: number, cpus: number, drainNs: number, out: FlowRecord[]): void {
    const stride = valueBufferSize / cpus;
    this.#timeNs = -1;
    const forward = this.#forward;
    const backward = this.#backward;
    for (let i = 0; i < count; i++) {
      const base = i * valueBufferSize;
      mergeCpuSlots(values, stride, cpus, forward, drainNs, base);
      mergeCpuSlots(values, stride, cpus, backward, drainNs, base + S.size);
      if (forward.packets === 0 && backward.packets === 0) continue;
      this.#addEntry(keys, i * K.size, forward, backward, out);
    }
  }

  /** One drained conversation: `forward` went from the key's source to its destination, `backward` the other way. */
  #addEntry(keys: Buffer, ko: number, forward: DirectionCounters, backward: DirectionCounters, out: FlowRecord[]): void {
    const hash = keyHash(keys, ko);
    const found = this.#index.find(hash, this.#slots.keys, keys, ko);
    if (found >= 0) {
      const slot = found >> 1;
      // The slot's key is this one (its FWD is `forward`) or the swapped one; `forward` taking over makes it this one.
      let sameWay = (found & 1) === 1;
      if (forward.packets > 0 && this.#addWay(slot, sameWay, keys, ko, false, forward)) sameWay = true;
      if (backward.packets > 0) this.#addWay(slot, !sameWay, keys, ko, true, backward);
      return;
    }
    // New: the initiator is the side that sent a SYN, else the side seen first (both are in this entry).
    const reversed = forward.packets === 0 || (backward.packets > 0 && (forward.syn !== backward.syn ? backward.syn : backward.firstNs < forward.firstNs));
    const slot = this.#insert(hash, keys, ko, reversed, reversed ? backward : forward);
    const replies = reversed ? forward : backward;
    if (replies.packets > 0) this.#addCounters(slot, REV, replies);
    if (this.#size > this.#opts.maxConversations) {
      // Not remembered: one record, and the slot is given back at once.
      out.push(this.#record(slot, this.#observation()));
      this.#remove(slot);
    }
  }

  /**
   * Adds one direction's counters to a known conversation. `sameWay`: they went the way of the slot's key (its
   * initiator's); `reversed`: the key at keys[ko..] is swapped to be their way. Returns true when they took over
   * the initiator: a SYN from the side that was not known to have sent one (the conversation was first seen
   * mid-way, or its 4-tuple was reused). Who was seen first was settled when the conversation was created (both
   * directions come in one map entry); it is not revisited, so a later interval keeps its initiator.
   */
  #addWay(slot: number, sameWay: boolean, keys: Buffer, ko: number, reversed: boolean, c: DirectionCounters): boolean {
    const slots = this.#slots;
    const small = slots.small;
    const sm = slot * SMALL;
    if (!sameWay && c.syn && small[sm + FROM_SYN] !== 1) {
      copyKey(keys, ko, reversed, slots.keys, slot * K.size);
      this.#swapDirections(slot);
      small[sm + FROM_SYN] = 1;
      this.#addCounters(slot, FWD, c);
      return true;
    }
    this.#addCounters(slot, sameWay ? FWD : REV, c);
    if (sameWay && c.syn) small[sm + FROM_SYN] = 1;
    return false;
  }

  /** A new slot for a conversation whose initiator is, for now, the sender of `c` (the key swapped when `reversed`). */
  #insert(hash: number, keys: Buffer, ko: number, reversed: boolean, c: DirectionCounters): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      if (this.#highWater === this.#slots.capacity) this.#grow();
      slot = this.#highWater++;
    }
    const slots = this.#slots;
    copyKey(keys, ko, reversed, slots.keys, slot * K.size);
    zero(slots.nums, slot * NUM, NUM);
    slots.ifindex[slot * 2] = 0;
    slots.ifindex[slot * 2 + 1] = 0;
    zero(slots.small, slot * SMALL, SMALL);
    slots.small[slot * SMALL + USED] = 1;
    slots.small[slot * SMALL + FROM_SYN] = c.syn ? 1 : 0;
    slots.hashes[slot] = hash;
    this.#addCounters(slot, FWD, c);
    this.#index.insert(hash, slot);
    this.#size++;
    return slot;
  }

  #grow(): void {
    // One slot more than maxConversations: the temporary slot of a conversation not remembered.
    const capacity = Math.min(this.#slots.capacity * 2, this.#opts.maxConversations + 1);
    const slots = this.#slots.grown(capacity);
    const index = new ConversationIndex(capacity);
    for (let s = 0; s < this.#highWater; s++) if (slots.small[s * SMALL + USED] === 1) index.insert(slots.hashes[s] ?? 0, s);
    this.#slots = slots;
    this.#index = index;
  }

  #remove(slot: number): void {
    const slots = this.#slots;
    this.#index.remove(slots.hashes[slot] ?? 0, slot, slots.hashes);
    slots.small[slot * SMALL + USED] = 0;
    this.#free.push(slot);
    this.#size--;
    if (this.#size === 0) {
      // Everything expired: start over from slot 0 so the free list does not keep its length.
      this.#free = [];
      this.#highWater = 0;
      this.#cursor = 0;
    }
  }

  #addCounters(slot: number, dir: number, c: DirectionCounters): void {
    const nums = this.#slots.nums;
    const small = this.#slots.small;
    const n = slot * NUM + dir * DIR_NUM;
    const sm = slot * SMALL + dir * DIR_SMALL;
    const packets = nums[n + PACKETS] ?? 0;
    if (packets === 0) {
      nums[n + FIRST] = c.firstNs;
      this.#slots.ifindex[slot * 2 + dir] = c.ifindex;
      small[sm + DIRECTION] = c.direction;
    } else if (c.firstNs < (nums[n + FIRST] ?? 0)) {
      nums[n + FIRST] = c.firstNs;
    }
    nums[slot * NUM + LAST] = Math.max(nums[slot * NUM + LAST] ?? 0, c.lastNs);
    nums[n + BYTES] = (nums[n + BYTES] ?? 0) + c.bytes;
    nums[n + PACKETS] = packets + c.packets;
    small[sm + TCP_FLAGS] = (small[sm + TCP_FLAGS] ?? 0) | c.tcpFlags;
    if (c.syn) small[sm + SYN] = 1;
  }

  #swapDirections(slot: number): void {
    const { nums, small, ifindex } = this.#slots;
    const n = slot * NUM;
    for (let i = 0; i < DIR_NUM; i++) {
      const t = nums[n + i] ?? 0;
      nums[n + i] = nums[n + DIR_NUM + i] ?? 0;
      nums[n + DIR_NUM + i] = t;
    }
    const sm = slot * SMALL;
    for (let i = 0; i < DIR_SMALL; i++) {
      const t = small[sm + i] ?? 0;
      small[sm + i] = small[sm + DIR_SMALL + i] ?? 0;
      small[sm + DIR_SMALL + i] = t;
    }
    const t = ifindex[slot * 2] ?? 0;
    ifindex[slot * 2] = ifindex[slot * 2 + 1] ?? 0;
    ifindex[slot * 2 + 1] = t;
  }

  #packets(slot: number): number {
    const nums = this.#slots.nums;
    return (nums[slot * NUM + PACKETS] ?? 0) + (nums[slot * NUM + DIR_NUM + PACKETS] ?? 0);
  }

  /** The first packet of the interval: of either direction that has packets. */
  #firstNs(slot: number): number {
    const nums = this.#slots.nums;
    const n = slot * NUM;
    const f = (nums[n + PACKETS] ?? 0) > 0 ? (nums[n + FIRST] ?? 0) : Infinity;
    const r = (nums[n + DIR_NUM + PACKETS] ?? 0) > 0 ? (nums[n + DIR_NUM + FIRST] ?? 0) : Infinity;
    return Math.min(f, r);
  }

  /**
   * Emits conversations past their idle or active timeout (nowNs: monotonic, as the kernel's), at most
   * `max` records; returns false when it stopped at `max` (the next call goes on where this one stopped).
   */
  expire(nowNs: number, out: FlowRecord[], max = Infinity): boolean {
    const idleNs = this.#opts.idleTimeoutMs * 1e6;
    const activeNs = this.#opts.activeTimeoutMs * 1e6;
    const small = this.#slots.small;
    const observation = this.#observation();
    this.#timeNs = -1;
    let emitted = 0;
    for (let s = this.#cursor; s < this.#highWater; s++) {
      if (small[s * SMALL + USED] !== 1) continue;
      const packets = this.#packets(s);
      const last = this.#slots.nums[s * NUM + LAST] ?? 0;
      const idle = nowNs - last >= idleNs;
      const active = packets > 0 && nowNs - this.#firstNs(s) >= activeNs;
      if (!idle && !active) continue;
      if (packets > 0 && emitted === max) {
        this.#cursor = s;
        return false;
      }
      if (packets > 0) {
        out.push(this.#record(s, observation));
        emitted++;
      }
      if (idle) {
        this.#remove(s);
      } else {
        // A new interval; the idle clock (LAST) and the initiator stay.
        const nums = this.#slots.nums;
        zero(nums, s * NUM, LAST);
        zero(small, s * SMALL, FROM_SYN);
        this.#slots.ifindex[s * 2] = 0;
        this.#slots.ifindex[s * 2 + 1] = 0;
      }
      if (this.#size === 0) break;
    }
    this.#cursor = 0;
    return true;
  }

  /** Emits every conversation with counters and forgets them (on stop), at most `max` records; true once empty. */
  flushAll(out: FlowRecord[], max = Infinity): boolean {
    const small = this.#slots.small;
    const observation = this.#observation();
    this.#timeNs = -1;
    let emitted = 0;
    for (let s = 0; s < this.#highWater && this.#size > 0; s++) {
      if (small[s * SMALL + USED] !== 1) continue;
      if (this.#packets(s) > 0) {
        if (emitted === max) return false;
        out.push(this.#record(s, observation));
        emitted++;
      }
      this.#remove(s);
    }
    return true;
  }

  /** Forgets every conversation; returns how many had counters not yet emitted (the caller counts them as lost). */
  clear(): number {
    let pending = 0;
    for (let s = 0; s < this.#highWater; s++) if (this.#slots.small[s * SMALL + USED] === 1 && this.#packets(s) > 0) pending++;
    const initial = Math.min(INITIAL_SLOTS, this.#opts.maxConversations);
    this.#slots = new ConversationSlots(initial);
    this.#index = new ConversationIndex(initial);
    this.#free = [];
    this.#highWater = 0;
    this.#size = 0;
    this.#cursor = 0;
    return pending;
  }

  #observation(): Readonly<podflow.v1.IObservation> {
    return this.#observations.of(this.#opts.hook());
  }

  /** The frozen Timestamp of drain `ns`, shared by the records of this pass last drained then. */
  #drainTime(ns: number): Readonly<NonNullable<FlowRecord['time']>> {
    if (ns !== this.#timeNs || this.#time === undefined) {
      this.#time = Object.freeze(this.#ctx.clock.toTimestamp(ns)!);
      this.#timeNs = ns;
    }
    return this.#time;
  }

  #record(slot: number, observation: Readonly<podflow.v1.IObservation>): FlowRecord {
    const { keys, nums, small, ifindex } = this.#slots;
    const ko = slot * K.size;
    const n = slot * NUM;
    const sm = slot * SMALL;
    const ipVersion = keys[ko + K.ip_version] ?? 4;
    const protocol = keys[ko + K.protocol] ?? 0;
    const sport = keys.readUInt16LE(ko + K.sport);
    const dport = keys.readUInt16LE(ko + K.dport);
    const fPackets = nums[n + PACKETS] ?? 0;
    const rPackets = nums[n + DIR_NUM + PACKETS] ?? 0;
    // Where the conversation was observed: the initiator's packets if any were seen, else the replies'.
    const seen = fPackets > 0 ? FWD : REV;
    const replyDirection = small[sm + DIR_SMALL + DIRECTION] === 1 ? 2 : 1;
    const record = newRecord(podflow.v1.RecordType.FLOW, this.#ctx.nodeName);
    record.time = this.#drainTime(nums[n + LAST] ?? 0);
    record.startTime = this.#ctx.clock.toTimestamp(this.#firstNs(slot));
    record.conversationId = conversationId(ipVersion, protocol, keys, ko + K.saddr, sport, keys, ko + K.daddr, dport);
    record.source = newEndpoint(formatIp(keys, ko + K.saddr, ipVersion), sport);
    record.destination = newEndpoint(formatIp(keys, ko + K.daddr, ipVersion), dport);
    record.transport = transportOf(protocol, ipVersion);
    record.interface = this.#ctx.interfaces.message(ifindex[slot * 2 + seen] ?? 0);
    record.direction = (fPackets > 0 ? small[sm + DIRECTION] ?? 0 : replyDirection) as podflow.v1.Direction;
    record.traffic = newTraffic(nums[n + BYTES] ?? 0, fPackets, nums[n + DIR_NUM + BYTES] ?? 0, rPackets);
    // Flags only: one frozen Tcp per flags value, shared.
    if (protocol === IPPROTO_TCP) record.tcp = tcpFlagsOf((small[sm + TCP_FLAGS] ?? 0) | (small[sm + DIR_SMALL + TCP_FLAGS] ?? 0));
    record.observation = observation;
    return record;
  }
}
