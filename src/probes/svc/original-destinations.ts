// The service-translation side of the L7 probes: svc.bpf.o's cgroup programs
// (connect4/6, sendmsg4/6, cgroup_skb egress) remember, per client socket, the
// destination it asked for; records look the client's address and port up
// here. Attached at the cgroup v2 root so every pod's sockets are covered.
import { join } from 'node:path';
import { BpfObject, type BpfMap, type Link } from 'libbpf-ts';
import type { LossCount } from '../../pipeline/types.js';
import { formatIp } from '../shared/ip.js';
import { kernelLosses } from '../shared/probe.js';
import { SvcKey as K, SvcOrig as V } from '../shared/layouts.js';

/** Where a client asked to go, before translation. */
export interface Destination {
  ip: string;
  port: number;
}

/**
 * Answers "where did the socket with this address and port ask to go?" (undefined: not known). The
 * client address is read where the event holds it (4 or 16 bytes at buf[addrOff..]): no text round trip.
 */
export interface OriginalDestinationLookup {
  lookup(buf: Uint8Array, addrOff: number, ipVersion: number, clientPort: number, protocol: number): Destination | undefined;
  /** The svc_orig_dst map itself, for kernel programs that read it (http); undefined while svc is not attached. */
  readonly map?: BpfMap | undefined;
}

export const SVC_PROGRAMS = ['svc_connect4', 'svc_connect6', 'svc_sendmsg4', 'svc_sendmsg6', 'svc_egress'] as const;

/** The svc object loaded and attached to one cgroup v2 directory. */
export class OriginalDestinations implements OriginalDestinationLookup {
  readonly #obj: BpfObject;
  readonly #links: Link[] = [];
  readonly #map: BpfMap;
  // Reused: lookups happen on the decode path, one per L7 record.
  readonly #key = Buffer.alloc(K.size);
  readonly #value = Buffer.alloc(V.size);

  /** Loads <objectDir>/svc.bpf.o and attaches its programs to cgroupPath; throws LoadError/AttachError. */
  constructor(objectDir: string, cgroupPath: string) {
    this.#obj = BpfObject.open(join(objectDir, 'svc.bpf.o'));
    try {
      this.#obj.load();
      for (const p of SVC_PROGRAMS) this.#links.push(this.#obj.program(p).attachCgroup(cgroupPath));
      this.#map = this.#obj.map('svc_orig_dst');
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get map(): BpfMap {
    return this.#map;
  }

  lookup(buf: Uint8Array, addrOff: number, ipVersion: number, clientPort: number, protocol: number): Destination | undefined {
    this.#key.fill(0);
    this.#key.set(buf.subarray(addrOff, addrOff + (ipVersion === 6 ? 16 : 4)), K.addr);
    this.#key.writeUInt16LE(clientPort, K.port);
    this.#key[K.ip_version] = ipVersion;
    this.#key[K.protocol] = protocol;
    let found = this.#map.lookup(this.#key, this.#value);
    if (!found) {
      // An unbound UDP socket is published before its source address is chosen: all-zero address.
      this.#key.fill(0, K.addr, K.addr + 16);
      found = this.#map.lookup(this.#key, this.#value);
    }
    if (!found) return undefined;
    const v = this.#value[V.ip_version] ?? 0;
    if (v !== 4 && v !== 6) return undefined;
    return { ip: formatIp(this.#value, V.addr, v), port: this.#value.readUInt16LE(V.port) };
  }

  losses(): LossCount[] {
    return kernelLosses(this.#obj, 'svc');
  }

  close(): void {
    for (const l of this.#links.splice(0)) {
      try {
        l.destroy();
      } catch {
        // The cgroup went away and took the link with it.
      }
    }
    this.#obj.close();
  }
}
