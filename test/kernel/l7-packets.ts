// Packet and DNS message builders for the L7 kernel tests.
import { ipBytes } from '../../src/enrich/ip.js';

export function ether(type: number): Buffer {
  const b = Buffer.alloc(14);
  Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]).copy(b);
  b.writeUInt16BE(type, 12);
  return b;
}

/** Ethernet + IPv4 or IPv6 (by the address form) + the L4 bytes. */
export function ip(src: string, dst: string, protocol: number, l4: Buffer): Buffer {
  const s = ipBytes(src)!;
  if (s.ipVersion === 4) {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + l4.length, 2);
    h[8] = 64;
    h[9] = protocol;
    Buffer.from(s.bytes).copy(h, 12);
    Buffer.from(ipBytes(dst)!.bytes).copy(h, 16);
    return Buffer.concat([ether(0x0800), h, l4]);
  }
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(l4.length, 4);
  h[6] = protocol;
  h[7] = 64;
  Buffer.from(s.bytes).copy(h, 8);
  Buffer.from(ipBytes(dst)!.bytes).copy(h, 24);
  return Buffer.concat([ether(0x86dd), h, l4]);
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export function tcp(sport: number, dport: number, seq: number, payload: Buffer, flags = 0x18, ack = 0): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = 0x50;
  h[13] = flags;
  return Buffer.concat([h, payload]);
}

/** A name in wire format (no compression). */
export function wireName(name: string): Buffer {
  const parts = name === '' ? [] : name.split('.');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])), Buffer.from([0])]);
}

export interface Answer {
  type: number;
  rdata: Buffer;
  /** Owner name bytes; default a pointer to the question name (0xC00C). */
  owner?: Buffer;
}

/** A DNS message: header, one question (name bytes as given), answers. */
export function dnsMessage(opts: { id: number; flags: number; qname: Buffer; qtype: number; answers?: Answer[]; qdcount?: number }): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(opts.id, 0);
  h.writeUInt16BE(opts.flags, 2);
  h.writeUInt16BE(opts.qdcount ?? 1, 4);
  h.writeUInt16BE(opts.answers?.length ?? 0, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(opts.qtype, 0);
  q.writeUInt16BE(1, 2);
  const rrs = (opts.answers ?? []).map((a) => {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(a.type, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(30, 4);
    fixed.writeUInt16BE(a.rdata.length, 8);
    return Buffer.concat([a.owner ?? Buffer.from([0xc0, 0x0c]), fixed, a.rdata]);
  });
  return Buffer.concat([h, opts.qname, q, ...rrs]);
}

/** TCP framing of a DNS message: its 2-byte length first. */
export function tcpDns(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}
