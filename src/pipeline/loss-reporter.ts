// Turns running loss totals into LOSS records: for each (stage, reason) whose
// total grew since the previous report, one record carrying the difference.
import { podflow } from '../proto/gen/flow.js';
import { newRecord, timestampFromMs } from './record-factory.js';
import type { FlowRecord, LossCount } from './types.js';

const OBSERVATION = Object.freeze({ probe: 'agent', hook: 'pipeline', side: podflow.v1.Side.UNKNOWN });

export class LossReporter {
  private readonly reported = new Map<string, number>();

  constructor(private readonly nodeName: string) {}

  /** LOSS records (without ids) for everything not yet reported; remembers it as reported. */
  records(totals: Iterable<LossCount>, nowMs: number): FlowRecord[] {
    const out: FlowRecord[] = [];
    const time = timestampFromMs(nowMs);
    for (const { stage, reason, count } of totals) {
      const key = `${stage}\u0000${reason}`;
      const delta = count - (this.reported.get(key) ?? 0);
      if (delta <= 0) continue;
      this.reported.set(key, count);
      const record = newRecord(podflow.v1.RecordType.LOSS, this.nodeName);
      record.time = time;
      record.loss = { stage, reason, count: delta };
      record.observation = OBSERVATION;
      out.push(record);
    }
    return out;
  }
}
