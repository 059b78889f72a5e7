// Decodes struct pf_dns_event (one DNS query or response seen on the wire).
import { readU64 } from '../shared/clock.js';
import { conversationId } from '../shared/conversation.js';
import { formatIp } from '../shared/ip.js';
import { DnsEvent as L, FlowKey as T, L7_HOOK_NAMES } from '../shared/layouts.js';
import { TextCache } from '../shared/text-cache.js';
import type { Destination } from '../svc/original-destinations.js';
import { readOriginalDestination } from '../svc/translate.js';
import { presentName } from './names.js';

/** Names as presented: a node asks for the same few names again and again (queries and their responses). */
const names = new TextCache(1024, 255, presentName);

/** One DNS message as the kernel saw it; addresses as text. */
export interface DnsMessage {
  tsNs: number;
  ifindex: number;
  hook: string;
  ipVersion: number;
  protocol: number;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  id: number;
  response: boolean;
  rcode: number;
  qtype: number;
  query: string;
  truncated: boolean;
  answers: string[];
  /** Of the message's own tuple (symmetric: a query and its response share it unless translated). */
  conversationId: string;
  /** Queries: where the client socket asked to go, as the kernel read it from the svc map (`orig`). */
  asked?: Destination;
}

const QR = 0x8000;
const RCODE_MASK = 0x000f;
/**
 * The answers of every message that carries none (all queries, NXDOMAIN, timeouts): one frozen
 * array instead of one per message; nothing downstream changes a record's answers.
 */
export const NO_ANSWERS = Object.freeze([]) as unknown as string[];

/**
 * The message at batch[off..off + DnsEvent.size); undefined when the event is not one podflow writes.
 * A query's original destination is the one the kernel read (the dns object shares svc's map).
 */
export function decodeDnsEvent(batch: Buffer, off: number): DnsMessage | undefined {
  const t = off + L.tuple;
  const ipVersion = batch[t + T.ip_version] ?? 0;
  const nameLen = batch.readUInt16LE(off + L.name_len);
  const answerCount = batch[off + L.answer_count] ?? 0;
  if ((ipVersion !== 4 && ipVersion !== 6) || nameLen > 255 || answerCount > 4) return undefined;
  const flags = batch.readUInt16LE(off + L.flags);
  const answers = answerCount === 0 ? NO_ANSWERS : [];
  for (let i = 0; i < answerCount; i++) {
    const v = batch[off + L.answer_version + i] ?? 0;
    if (v === 4 || v === 6) answers.push(formatIp(batch, off + L.answers + i * 16, v));
  }
  const q = off + L.qname;
  const protocol = batch[t + T.protocol] ?? 0;
  const sport = batch.readUInt16LE(t + T.sport);
  const dport = batch.readUInt16LE(t + T.dport);
  const response = (flags & QR) !== 0;
  return {
    tsNs: readU64(batch, off + L.ts_ns),
    ifindex: batch.readUInt32LE(off + L.ifindex),
    hook: L7_HOOK_NAMES[batch[off + L.hook] ?? 0] ?? 'tc',
    ipVersion,
    protocol,
    saddr: formatIp(batch, t + T.saddr, ipVersion),
    daddr: formatIp(batch, t + T.daddr, ipVersion),
    sport,
    dport,
    id: batch.readUInt16LE(off + L.id),
    response,
    rcode: flags & RCODE_MASK,
    qtype: batch.readUInt16LE(off + L.qtype),
    // qname[0] is the first label's length byte (now '.'): the name starts after it.
    query: nameLen > 1 ? names.text(batch, q + 1, q + nameLen) : '',
    truncated: (batch[off + L.truncated] ?? 0) !== 0,
    answers,
    conversationId: conversationId(ipVersion, protocol, batch, t + T.saddr, sport, batch, t + T.daddr, dport),
    asked: response ? undefined : readOriginalDestination(batch, off + L.orig),
  };
}
