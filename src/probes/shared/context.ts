// What every probe's decoder and attach step share.
import type { CgroupResolver } from '../../enrich/cgroup.js';
import type { RecordIngress } from '../../pipeline/types.js';
import type { MonotonicClock } from './clock.js';
import type { InterfaceIndex } from './interfaces.js';

export interface ProbeContext {
  readonly nodeName: string;
  readonly clock: MonotonicClock;
  readonly ingress: RecordIngress;
  readonly interfaces: InterfaceIndex;
  /** cgroup id -> container id from the enrich module's cache (never a tree walk on this path); null: not resolved here, the enricher does it from cgroupId. */
  readonly cgroups: CgroupResolver | null;
  /** Directory holding the built <probe>.bpf.o objects. */
  readonly objectDir: string;
}
