// drops: skb:kfree_skb with the drop reason named from the running kernel's BTF.
// The kernel rate-limits per flow, reason and interface; each tick reports the
// drops still pending for keys that went quiet (the tail of a burst).
import { statSync } from 'node:fs';
import type { BpfObject, Link } from 'libbpf-ts';
import { loadDropReasons } from '../shared/btf.js';
import type { ProbeContext } from '../shared/context.js';
import { DropEvent, DropWindow } from '../shared/layouts.js';
import { RingBufferProbe, attachAll, openProbe, type ProbePlan } from '../shared/probe.js';
import { QuietWindows } from '../shared/windows.js';
import { decodeDropEvent } from './decode.js';
import { DEFAULT_DENIED_DROP_REASONS, DropReasonFilter, type DropReasonLists } from './reasons.js';

const HOOK = 'tracepoint/skb/kfree_skb';
/** As DROP_INTERVAL_NS in bpf/drops.bpf.c. */
const INTERVAL_NS = 1e9;

class DropsProbe extends RingBufferProbe {
  readonly #ctx: ProbeContext;
  readonly #windows: QuietWindows;
  readonly #reasons: ReadonlyMap<number, string>;
  readonly #filter: DropReasonFilter;
  #tails = 0;

  constructor(ctx: ProbeContext, obj: BpfObject, links: Link[], reasons: ReadonlyMap<number, string>, filter: DropReasonFilter) {
    super(ctx, 'drops', HOOK, obj, links, DropEvent.size, (b, off) => decodeDropEvent(b, off, ctx, reasons, HOOK));
    this.#ctx = ctx;
    this.#windows = new QuietWindows(obj.map('pf_drop_windows'), INTERVAL_NS, { lastEmitNs: DropWindow.last_emit_ns, pending: DropWindow.pending });
    this.#reasons = reasons;
    this.#filter = filter;
  }

  filtered(): { reason: string; count: number }[] {
    return this.#filter.filtered();
  }

  tick(nowNs: number): void {
    const out = this.#windows.flush(nowNs, (key, _value, pending) => {
      key.writeUInt32LE(pending, DropEvent.count);
      return decodeDropEvent(key, 0, this.#ctx, this.#reasons, HOOK, nowNs);
    });
    if (out.length > 0) {
      this.#tails += out.length;
      this.#ctx.ingress.ingest(out);
    }
  }

  override eventsSeen(): number {
    return super.eventsSeen() + this.#tails;
  }
}

export interface DropsOptions {
  /** Which reasons become DROP records; default: every reason but DEFAULT_DENIED_DROP_REASONS. */
  reasons?: DropReasonLists;
  /** Where the kernel's BTF is read from. */
  btfPath?: string;
}

export function dropsPlan(opts: DropsOptions): ProbePlan {
  return {
    probe: 'drops',
    candidates: [
      {
        hook: HOOK,
        attach(ctx: ProbeContext) {
          const reasons = loadDropReasons(opts.btfPath);
          return openProbe(ctx, 'drops.bpf.o', ['drops_tp'], (obj) => {
            // Before attach: no drop passes before the filter is in place.
            const filter = new DropReasonFilter(obj, reasons, opts.reasons ?? { allow: [], deny: DEFAULT_DENIED_DROP_REASONS });
            if (filter.unknown.length > 0) {
              ctx.log?.warn({ probe: 'drops', reasons: filter.unknown }, 'drop reasons in drops.allowReasons/denyReasons that this kernel does not have are ignored');
            }
            return new DropsProbe(ctx, obj, attachAll(obj, ['drops_tp']), reasons, filter);
          }, (obj) => obj.setGlobal('drops_netns_ino', statSync('/proc/self/ns/net').ino));
        },
      },
    ],
  };
}
