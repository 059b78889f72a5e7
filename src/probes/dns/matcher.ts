// Pairs DNS queries with their responses (transaction id + client address and
// port + protocol) and reports queries that got no response in time. Keyed by
// the client's side only, so a query seen before DNAT (to a Service IP) pairs
// with the response seen after it (from the backend); the same packet seen on a
// second interface of the node is recognised and ignored. A response pairs
// only when its question is the one asked (name, ignoring case as 0x20
// randomisation varies it, and type), as a resolver checks before it accepts
// one: a server of the pod's choosing could otherwise put any name on the
// record (an exfiltrating query reported under an innocent name).
import { podflow } from '../../proto/gen/flow.js';
import { newDns, newEndpoint, newRecord, Observations, transportOf } from '../../pipeline/record-factory.js';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import { ipv4Key } from '../../enrich/ip.js';
import { durationFromNs } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import { setOriginalDestination } from '../svc/translate.js';
import { NO_ANSWERS, type DnsMessage } from './decode.js';
import { RCODE_TIMEOUT, qtypeName, rcodeName } from './names.js';

export interface DnsMatcherOptions {
  /** A query without response for this long is reported with rcode TIMEOUT. */
  timeoutMs: number;
  /** Queries waiting for their response at most; beyond, the oldest is reported as TIMEOUT early and counted. */
  maxPending: number;
}

export type DnsContext = Pick<ProbeContext, 'clock' | 'nodeName' | 'interfaces'>;

/**
 * The key of a client's query: protocol, client address and port, transaction
 * id. For IPv4, one flat string of their 9 bytes: a template of the four as
 * text is a chain of pieces (and number-to-text strings) that Map#get copies
 * flat, about 300 bytes per message. Other addresses keep the text form,
 * after a character no IPv4 key holds (all of theirs are below 256).
 */
function pendingKey(protocol: number, addr: string, port: number, id: number): string {
  const v4 = ipv4Key(addr);
  if (v4 < 0) return `\u0100${protocol}|${addr}|${port}|${id}`;
  return String.fromCharCode(protocol & 255, v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255, port >>> 8, port & 255, id >>> 8, id & 255);
}

export class DnsMatcher {
  readonly #ctx: DnsContext;
  readonly #timeoutNs: number;
  readonly #maxPending: number;
  readonly #observations = new Observations('dns');
  /** Insertion order is arrival order, so the oldest query is first. */
  readonly #pending = new Map<string, DnsMessage>();
  #unmatchedResponses = 0;
  #mismatchedResponses = 0;
  #pendingFull = 0;
  #pendingAtStop = 0;

  constructor(ctx: DnsContext, opts: DnsMatcherOptions) {
    if (!(opts.timeoutMs > 0)) throw new Error(`dns timeoutMs must be > 0, got ${opts.timeoutMs}`);
    if (!Number.isInteger(opts.maxPending) || opts.maxPending < 1) throw new Error(`dns maxPending must be an integer >= 1, got ${opts.maxPending}`);
    this.#ctx = ctx;
    this.#timeoutNs = opts.timeoutMs * 1e6;
    this.#maxPending = opts.maxPending;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Takes one message; appends a record to `out` when it completes an exchange. */
  add(m: DnsMessage, out: FlowRecord[]): void {
    if (!m.response) {
      const key = pendingKey(m.protocol, m.saddr, m.sport, m.id);
      // Already waiting: a retransmission or the same packet on another interface; the first sighting counts.
      if (this.#pending.has(key)) return;
      if (this.#pending.size >= this.#maxPending) {
        const [oldestKey, oldest] = this.#pending.entries().next().value as [string, DnsMessage];
        this.#pending.delete(oldestKey);
        this.#pendingFull++;
        out.push(this.#record(oldest, undefined));
      }
      this.#pending.set(key, m);
      return;
    }
    const key = pendingKey(m.protocol, m.daddr, m.dport, m.id);
    const q = this.#pending.get(key);
    if (!q) {
      this.#unmatchedResponses++;
      return;
    }
    // Not the answer to this query: the query waits on for its own (or its timeout).
    if (!sameQuestion(q, m)) {
      this.#mismatchedResponses++;
      return;
    }
    this.#pending.delete(key);
    out.push(this.#record(q, m));
  }

  /** Reports the queries older than the timeout (nowNs: CLOCK_MONOTONIC, as the kernel's timestamps). */
  expire(nowNs: number, out: FlowRecord[]): void {
    for (const [key, q] of this.#pending) {
      if (nowNs - q.tsNs < this.#timeoutNs) return;
      this.#pending.delete(key);
      out.push(this.#record(q, undefined));
    }
  }

  /** Forgets the queries still waiting (their outcome is unknown), counting them. */
  stop(): void {
    this.#pendingAtStop += this.#pending.size;
    this.#pending.clear();
  }

  losses(): LossCount[] {
    return [
      { stage: 'decode', reason: 'dns:pending_full', count: this.#pendingFull },
      { stage: 'decode', reason: 'dns:pending_at_stop', count: this.#pendingAtStop },
    ];
  }

  /** Counters that are not losses, by name (probe.counters()). */
  counters(): Record<string, number> {
    return {
      // Responses without a waiting query: started before podflow, timed out already, or a second sighting.
      'dns:unmatched_response': this.#unmatchedResponses,
      // Responses to a waiting query's client, address and id whose question is another one.
      'dns:mismatched_response': this.#mismatchedResponses,
    };
  }

  #record(q: DnsMessage, r: DnsMessage | undefined): FlowRecord {
    const record = newRecord(podflow.v1.RecordType.DNS, this.#ctx.nodeName);
    record.time = this.#ctx.clock.toTimestamp(r ? r.tsNs : q.tsNs);
    record.startTime = this.#ctx.clock.toTimestamp(q.tsNs);
    record.conversationId = (r ?? q).conversationId;
    record.source = newEndpoint(q.saddr, q.sport);
    record.destination = r ? newEndpoint(r.saddr, r.sport) : newEndpoint(q.daddr, q.dport);
    record.transport = transportOf(q.protocol, q.ipVersion);
    record.interface = this.#ctx.interfaces.message(q.ifindex);
    const dns = newDns(
      q.id,
      q.query,
      qtypeName(q.qtype || (r?.qtype ?? 0)),
      r ? rcodeName(r.rcode) : RCODE_TIMEOUT,
      r ? r.answers : NO_ANSWERS,
      q.truncated && (r?.truncated ?? true),
    );
    if (r) dns.latency = durationFromNs(Math.max(0, r.tsNs - q.tsNs));
    record.dns = dns;
    record.observation = this.#observations.of(q.hook);
    if (!setOriginalDestination(record, { ip: q.daddr, port: q.dport })) setOriginalDestination(record, q.asked);
    return record;
  }
}

/** The response's question is the query's: same type, same name up to ASCII case (a response without a question name matches). */
function sameQuestion(q: DnsMessage, r: DnsMessage): boolean {
  if (q.qtype !== 0 && r.qtype !== 0 && q.qtype !== r.qtype) return false;
  const a = q.query;
  const b = r.query;
  return a === b || b === '' || (a.length === b.length && a.toLowerCase() === b.toLowerCase());
}
