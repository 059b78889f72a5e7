// What every probe's decoder and attach step share.
import type { RecordIngress } from '../../pipeline/types.js';
import type { MonotonicClock } from './clock.js';
import type { ProbeLog } from '../types.js';
import type { InterfaceIndex } from './interfaces.js';

export interface ProbeContext {
  readonly nodeName: string;
  readonly clock: MonotonicClock;
  readonly ingress: RecordIngress;
  readonly interfaces: InterfaceIndex;
  /** Directory holding the built <probe>.bpf.o objects. */
  readonly objectDir: string;
  /** Where problems while running (a record that cannot be decoded) are logged; default: only counted. */
  readonly log?: ProbeLog;
}
