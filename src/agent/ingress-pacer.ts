// The probes' ingress: the pipeline, plus flow control for producers of large
// bursts (see src/probes/flows/paced-ingress.ts). Room is what the fullest
// queue on a record's way can still take: the ingest queue, and every sink's
// data queue less what already waits in ingest (each of those records goes to
// every sink). The pipeline has no room signal yet, so waits poll its queue
// depths, backing off while the sinks are stuck.
//
// At shutdown the agent gives producers a deadline: waits end there (false),
// producers count what they still hold with abandon(), and the agent stops
// the pipeline only once their held work has settled.
import type { Pipeline } from '../pipeline/pipeline.js';
import type { FlowRecord, LossCount, LossSource } from '../pipeline/types.js';
import type { PacedIngress } from '../probes/flows/paced-ingress.js';

const FIRST_POLL_MS = 2;
const MAX_POLL_MS = 100;

export class IngressPacer implements PacedIngress, LossSource {
  readonly #pipeline: Pick<Pipeline, 'ingest' | 'queues'>;
  /** Date.now() by which producers must have handed everything over; Infinity until shutdown. */
  #producersEnd = Infinity;
  readonly #held = new Set<Promise<void>>();
  readonly #abandoned = new Map<string, number>();

  constructor(pipeline: Pick<Pipeline, 'ingest' | 'queues'>) {
    this.#pipeline = pipeline;
  }

  ingest(records: FlowRecord[]): void {
    this.#pipeline.ingest(records);
  }

  room(): number {
    return this.#queues().room;
  }

  #queues(): { room: number; smallest: number; empty: boolean } {
    let ingestFree = Infinity;
    let ingestDepth = 0;
    let sinkFree = Infinity;
    let smallest = Infinity;
    let empty = true;
    for (const q of this.#pipeline.queues()) {
      if (q.name.endsWith(':loss')) continue;
      if (q.depth > 0) empty = false;
      smallest = Math.min(smallest, q.capacity);
      if (q.name === 'ingest') {
        ingestFree = q.capacity - q.depth;
        ingestDepth = q.depth;
      } else {
        sinkFree = Math.min(sinkFree, q.capacity - q.depth);
      }
    }
    return { room: Math.max(0, Math.min(ingestFree, sinkFree - ingestDepth)), smallest, empty };
  }

  waitForRoom(records: number): Promise<boolean> {
    return new Promise((resolve) => {
      let pollMs = FIRST_POLL_MS;
      const poll = () => {
        const { room, smallest, empty } = this.#queues();
        // A chunk larger than half the smallest queue would never fit while the sinks keep some records queued;
        // at least one record of room, else a producer would be told to go on with nothing to hand over.
        if (room >= Math.max(1, Math.min(records, Math.floor(smallest / 2))) || empty) return resolve(true);
        const left = this.#producersEnd - Date.now();
        if (left <= 0) return resolve(false);
        setTimeout(poll, Math.min(pollMs, left));
        pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
      };
      poll();
    });
  }

  hold(work: Promise<void>): void {
    this.#held.add(work);
    void work.finally(() => this.#held.delete(work));
  }

  abandon(records: number, reason: string): void {
    if (records > 0) this.#abandoned.set(reason, (this.#abandoned.get(reason) ?? 0) + records);
  }

  /**
   * From now on producers hand over until producersEnd (Date.now() ms); resolves once their held
   * work settled, which it does by then (their waits end there).
   */
  async settle(producersEnd: number): Promise<void> {
    this.#producersEnd = producersEnd;
    while (this.#held.size > 0) await Promise.allSettled([...this.#held]);
  }

  losses(): LossCount[] {
    return [...this.#abandoned].map(([reason, count]) => ({ stage: 'ingest', reason, count }));
  }
}
