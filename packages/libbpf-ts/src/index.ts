// libbpf-ts: TypeScript over the system libbpf.
export { BpfObject, type OpenOptions } from './object.js';
export { Program, type TestRunOptions, type TestRunResult, type UprobeOptions } from './program.js';
export { BpfMap, possibleCpus, type BatchBuffers, type BatchResult, type UpdateFlag } from './map.js';
export { Link, PacketSocketLink } from './link.js';
export { tcFilters, type TcDirection, type TcFilter, type TcOptions } from './tc.js';
export {
  RingBufferConsumer, PerfBufferConsumer,
  type BatchHandler, type ConsumerOptions, type ConsumerStats, type PerfBufferOptions, type RingBufferOptions,
} from './consumer.js';
export { features, Helper, type FeatureResult, type HelperName } from './features.js';
export { BpfError, LoadError, AttachError, MapError, NotSupportedError, errnoCode } from './errors.js';
export { setLogger, type Logger, type LogLevel } from './log.js';
export {
  ProgType, MapType, AttachType, CgroupAttach, XdpFlags, UpdateFlags, nameOf,
  type ProgTypeName, type MapTypeName, type AttachTypeName, type CgroupAttachName,
} from './constants.js';
