// The service-translation side of the L7 probes: svc.bpf.o's cgroup programs
// (connect4/6, sendmsg4/6, cgroup_skb egress, sock_create, sock_release)
// remember, per client socket, the destination it asked for in the
// svc_orig_dst map. The dns and http objects reuse that map and read it in the
// kernel (bpf/include/svc_orig_dst.h), so their events arrive with the original
// destination in them. Attached at the cgroup v2 root so every pod's sockets
// are covered.
import { join } from 'node:path';
import { BpfObject, type BpfMap, type Link } from 'libbpf-ts';
import type { LossCount } from '../../pipeline/types.js';
import { kernelLosses } from '../shared/probe.js';

/** Where a client asked to go, before translation. */
export interface Destination {
  ip: string;
  port: number;
}

/**
 * Holds the svc_orig_dst map for the dns and http objects to reuse when they load. Read then, not
 * earlier: the svc object may be opened after their plans are made. Undefined while svc is not
 * attached; those objects then get a map of their own that stays empty.
 */
export interface OriginalDestinationMap {
  readonly map?: BpfMap | undefined;
}

export const SVC_PROGRAMS = ['svc_connect4', 'svc_connect6', 'svc_sendmsg4', 'svc_sendmsg6', 'svc_egress', 'svc_create', 'svc_release'] as const;

/** Client sockets whose original destination is held at once (svc_orig_dst's size, SVC_SOCKETS_MAX). */
export const SVC_SOCKETS_DEFAULT = 65536;

/** The svc object loaded and attached to one cgroup v2 directory. */
export class OriginalDestinations implements OriginalDestinationMap {
  readonly #obj: BpfObject;
  readonly #links: Link[] = [];
  readonly #map: BpfMap;

  /**
   * Loads <objectDir>/svc.bpf.o and attaches its programs to cgroupPath; throws LoadError/AttachError.
   * maxSockets: live client sockets held at once; a socket publishing beyond it is counted as svc:map_full.
   */
  constructor(objectDir: string, cgroupPath: string, maxSockets = SVC_SOCKETS_DEFAULT) {
    this.#obj = BpfObject.open(join(objectDir, 'svc.bpf.o'));
    try {
      this.#obj.map('svc_orig_dst').resize(maxSockets);
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
