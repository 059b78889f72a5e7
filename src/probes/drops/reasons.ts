// Which kernel drop reasons become DROP records. The kernel frees sockets'
// queues with QUEUE_PURGE and many skbs with NOT_SPECIFIED on every normal
// teardown: reported, they would be one DROP per closed connection that no
// packet was lost for. OTHERHOST frees the copies of frames addressed to
// another host's MAC that a bridge floods into every pod on it (bridge CNIs,
// unknown unicast): the pod they were for got its own copy. The filter runs in the kernel (bpf/drops.bpf.c) before
// any map or ring-buffer work; what it leaves out is counted per reason. Drops
// of skbs that were not IP (netlink and unix messages, ARP) have no flow to
// report: left out after the reason filter and counted as NOT_IP.
import type { BpfObject } from 'libbpf-ts';
import { sumPerCpu } from '../shared/counters.js';

/** Reasons denied unless configured otherwise: normal teardown and flooded copies, not packet loss. */
export const DEFAULT_DENIED_DROP_REASONS: readonly string[] = ['NOT_SPECIFIED', 'QUEUE_PURGE', 'OTHERHOST'];

/** As PF_DROP_REASON_SLOTS in bpf/include/events.h: reason values from the last slot on share it. */
export const DROP_REASON_SLOTS = 256;
const SHARED_SLOT = DROP_REASON_SLOTS - 1;
/** How the shared slot is named in the filtered counts. */
const SHARED_SLOT_NAME = 'OTHER_SUBSYSTEM';
/** As PF_DROP_NOT_IP_SLOT in bpf/drops.bpf.c: the filtered count of non-IP skbs, past the reason slots. */
const NOT_IP_SLOT = DROP_REASON_SLOTS;

export interface DropReasonLists {
  /** Reasons to report (names of enum skb_drop_reason without SKB_DROP_REASON_); empty = every reason not denied. */
  allow: readonly string[];
  /** Reasons never reported; wins over allow. */
  deny: readonly string[];
}

/** "SKB_DROP_REASON_NO_SOCKET" and "no_socket" both name NO_SOCKET. */
export function dropReasonName(name: string): string {
  return name.toUpperCase().replace(/^SKB_DROP_REASON_/, '');
}

export class DropReasonFilter {
  readonly #obj: BpfObject;
  /** Filtered-count slots, with the name each is counted under: denied reasons and NOT_IP. */
  readonly #counted: { slot: number; reason: string }[] = [];
  /** Configured names this kernel has no drop reason for. */
  readonly unknown: string[];

  /** Writes the verdict of every slot into the object's pf_drop_reason_report (the object is loaded). */
  constructor(obj: BpfObject, reasons: ReadonlyMap<number, string>, lists: DropReasonLists) {
    this.#obj = obj;
    const allow = new Set(lists.allow.map(dropReasonName));
    const deny = new Set(lists.deny.map(dropReasonName));
    const known = new Set(reasons.values());
    this.unknown = [...new Set([...allow, ...deny])].filter((n) => !known.has(n));
    const reported = (name: string) => (allow.size === 0 || allow.has(name)) && !deny.has(name);
    const verdicts = new Array<boolean>(DROP_REASON_SLOTS).fill(true);
    for (const [value, name] of reasons) {
      if (value < SHARED_SLOT) verdicts[value] = reported(name);
    }
    // Other subsystems' reasons cannot be told apart in the shared slot: kept unless an allow list narrows the set.
    verdicts[SHARED_SLOT] = allow.size === 0;
    const map = obj.map('pf_drop_reason_report');
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(4);
    verdicts.forEach((report, slot) => {
      key.writeUInt32LE(slot);
      value.writeUInt32LE(report ? 1 : 0);
      map.update(key, value);
      if (!report) this.#counted.push({ slot, reason: slot === SHARED_SLOT ? SHARED_SLOT_NAME : reasons.get(slot) ?? `UNKNOWN_${slot}` });
    });
    this.#counted.push({ slot: NOT_IP_SLOT, reason: 'NOT_IP' });
  }

  /** Running totals of the drops left out, per reason or NOT_IP (those with none omitted). */
  filtered(): { reason: string; count: number }[] {
    const map = this.#obj.map('pf_drop_reason_filtered');
    const key = Buffer.alloc(4);
    const out: { reason: string; count: number }[] = [];
    for (const { slot, reason } of this.#counted) {
      const count = sumPerCpu(map, slot, key);
      if (count > 0) out.push({ reason, count });
    }
    return out;
  }
}
