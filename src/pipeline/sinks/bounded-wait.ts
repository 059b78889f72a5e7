// Waits of the network sinks (Kafka, OTLP) that must end on time whatever the
// peer does: a shutdown with the broker or collector away.

/**
 * How long stop() still tries to deliver. The pipeline calls flush() first,
 * bounded by the shutdown deadline, and then gives stop() at least 1 s: what
 * is still undelivered must be counted within that second, or the agent
 * reports its final losses without it.
 */
export const STOP_FLUSH_MS = 500;

/** Resolves when `work` settles or after `ms`, whichever comes first; never rejects. */
export async function settleWithin(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!work) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}
