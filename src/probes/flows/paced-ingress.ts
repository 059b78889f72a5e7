// Flow control between a producer of large bursts (the flows probe's expiry
// and shutdown flush: 100,000 records at once) and the pipeline's bounded
// queues. A plain RecordIngress takes whatever it is given and sheds what does
// not fit; a PacedIngress also says how much fits, so the producer can hand
// records over in chunks as the sinks make room, and keep the rest (compactly)
// until then.
import type { FlowRecord, RecordIngress } from '../../pipeline/types.js';

export interface PacedIngress extends RecordIngress {
  /** Records ingest() would take now without any queue dropping one. */
  room(): number;
  /**
   * Resolves true once room() >= records (or every queue is empty), false when the shutdown
   * deadline for producers came first: the producer then counts what it still holds with abandon().
   */
  waitForRoom(records: number): Promise<boolean>;
  /** Shutdown work of a producer (a paced flush); the agent stops the pipeline only after it settled. */
  hold(work: Promise<void>): void;
  /** Records a producer could not hand over before the shutdown deadline: counted as lost (stage ingest). */
  abandon(records: number, reason: string): void;
}

export function isPaced(ingress: RecordIngress): ingress is PacedIngress {
  const p = ingress as Partial<PacedIngress>;
  return typeof p.room === 'function' && typeof p.waitForRoom === 'function' && typeof p.hold === 'function' && typeof p.abandon === 'function';
}

/** Records per ingest() call of a paced producer: small enough that one call never fills a default sink queue. */
export const PACED_CHUNK = 2048;

/**
 * Hands records over in chunks as `ingress` has room: step(out, max) appends at most `max` records
 * and returns true once it has no more. Resolves true when step is done; false when the shutdown
 * deadline came first, or stopped() turned true while it waited.
 */
export async function emitPaced(
  ingress: PacedIngress,
  step: (out: FlowRecord[], max: number) => boolean,
  stopped: () => boolean = () => false,
): Promise<boolean> {
  for (;;) {
    const room = Math.min(ingress.room(), PACED_CHUNK);
    if (room > 0) {
      const out: FlowRecord[] = [];
      const done = step(out, room);
      if (out.length > 0) ingress.ingest(out);
      if (done) return true;
    }
    if (!(await ingress.waitForRoom(PACED_CHUNK)) || stopped()) return false;
  }
}
