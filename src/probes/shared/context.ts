// What every probe's decoder and attach step share.
import type { RecordIngress } from '../../pipeline/types.js';
import type { MonotonicClock } from './clock.js';
import type { CgroupResolver } from './cgroups.js';
import type { InterfaceIndex } from './interfaces.js';

export interface ProbeContext {
  readonly nodeName: string;
  readonly clock: MonotonicClock;
  readonly ingress: RecordIngress;
  readonly interfaces: InterfaceIndex;
  readonly cgroups: CgroupResolver;
  /** Directory holding the built <probe>.bpf.o objects. */
  readonly objectDir: string;
}
