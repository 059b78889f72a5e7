// The N-API addon (native/*.c, built by the package Makefile into
// build/libbpf_ts.node) and the types of what it exports. Everything above this
// file is TypeScript; everything below is a thin call into libbpf or a syscall.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConsumerStats } from './consumer.js';

/** Opaque handle of an opened bpf_object. */
export type ObjectHandle = { readonly __brand: 'bpf_object' };
/** Opaque handle of a libbpf bpf_link. */
export type LinkHandle = { readonly __brand: 'bpf_link' };
/** Opaque handle of a native batch consumer (ring buffer or perf buffer). */
export type ConsumerHandle = { readonly __brand: 'consumer' };

/** A filter on a clsact hook, as the kernel lists it. */
export interface TcFilter {
  priority: number;
  handle: number;
  /** The classifier, e.g. 'bpf', 'u32', 'flower'. */
  kind: string;
  /** The BPF program's id and kernel name (at most 15 characters); 0 and '' for other classifiers. */
  progId: number;
  program: string;
}

export interface NativeProgramInfo {
  name: string;
  section: string;
  type: number;
  expectedAttachType: number;
}

export interface NativeMapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

export interface NativeGlobalInfo {
  /** The data section holding the variable, e.g. '.rodata'. */
  section: string;
  /** The map name libbpf gave that section, e.g. 'probe.rodata'. */
  map: string;
  offset: number;
  size: number;
}

export interface NativeTestRunResult {
  retval: number;
  duration: number;
  dataSizeOut: number;
}

/** Called on the JS thread when batch `index` of the pool holds `count` records in `bytes` bytes. */
export type NativeBatchReady = (index: number, count: number, bytes: number) => void;

export interface NativeAddon {
  setPrint(cb: ((level: number, message: string) => void) | null): void;
  /** Start capturing libbpf's output (for error messages); returns and clears it. */
  takeCapturedLog(): string;

  objOpen(source: string | Buffer, name: string, btfCustomPath: string | null): ObjectHandle;
  objPrograms(obj: ObjectHandle): NativeProgramInfo[];
  objMaps(obj: ObjectHandle): NativeMapInfo[];
  objGlobalInfo(obj: ObjectHandle, name: string): NativeGlobalInfo | null;
  objSetGlobal(obj: ObjectHandle, mapName: string, offset: number, value: Buffer): void;
  objGetGlobal(obj: ObjectHandle, mapName: string, offset: number, size: number): Buffer;
  mapSetMaxEntries(obj: ObjectHandle, map: string, n: number): void;
  mapReuseFd(obj: ObjectHandle, name: string, fd: number): void;
  progSetAutoload(obj: ObjectHandle, prog: string, autoload: boolean): void;
  objLoad(obj: ObjectHandle): void;
  /** objLoad on libuv's thread pool; rejects with the error objLoad throws. */
  objLoadAsync(obj: ObjectHandle): Promise<void>;
  objProgFd(obj: ObjectHandle, prog: string): number;
  objMapFd(obj: ObjectHandle, map: string): number;
  objClose(obj: ObjectHandle): void;

  attachAuto(obj: ObjectHandle, prog: string): LinkHandle;
  attachTracepoint(obj: ObjectHandle, prog: string, category: string, name: string): LinkHandle;
  attachRawTracepoint(obj: ObjectHandle, prog: string, name: string): LinkHandle;
  attachKprobe(obj: ObjectHandle, prog: string, func: string, retprobe: boolean): LinkHandle;
  attachUprobe(obj: ObjectHandle, prog: string, binary: string, symbol: string | null, offset: number, pid: number, retprobe: boolean): LinkHandle;
  linkDestroy(link: LinkHandle): void;

  /** BPF_LINK_CREATE with an explicit attach type; returns the link fd. */
  linkCreate(progFd: number, targetFd: number, attachType: number, flags: number): number;
  closeFd(fd: number): void;

  /** Creates the clsact qdisc; false when it already existed. */
  tcHookCreate(ifindex: number): boolean;
  tcHookDestroy(ifindex: number): void;
  tcAttach(progFd: number, ifindex: number, ingress: boolean, priority: number, handle: number): { priority: number; handle: number };
  tcDetach(ifindex: number, ingress: boolean, priority: number, handle: number): void;
  tcFilters(ifindex: number, ingress: boolean): TcFilter[];
  tcOwnerHandle(): number;
  tcOwnerAlive(handle: number): boolean;

  packetSocketOpen(ifindex: number): number;
  socketAttachBpf(sockFd: number, progFd: number): void;
  socketDetachBpf(sockFd: number): void;
  openPath(path: string): number;

  testRun(progFd: number, data: Buffer, dataOut: Buffer | null, ctx: Buffer | null, repeat: number): NativeTestRunResult;
  testRunAsync(progFd: number, data: Buffer, dataOut: Buffer | null, ctx: Buffer | null, repeat: number): Promise<NativeTestRunResult>;

  mapLookup(fd: number, key: Buffer | null, value: Buffer, flags: number): boolean;
  mapUpdate(fd: number, key: Buffer | null, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapNextKey(fd: number, key: Buffer | null, next: Buffer): boolean;
  /** Returns the number of entries read; `more` false once the map is exhausted. */
  /** BPF_MAP_LOOKUP_BATCH, or BPF_MAP_LOOKUP_AND_DELETE_BATCH when `remove`. */
  mapLookupBatch(fd: number, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: number, remove: boolean): { count: number; more: boolean };
  /** BPF_MAP_LOOKUP_AND_DELETE_ELEM: false when the key was absent. */
  mapLookupAndDelete(fd: number, key: Buffer, value: Buffer): boolean;
  mapInfo(fd: number): NativeMapInfo & { id: number };
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  numPossibleCpus(): number;

  probeProgType(type: number): number;
  probeMapType(type: number): number;
  probeHelper(progType: number, helper: number): number;
  ifNameToIndex(name: string): number;

  ringbufNew(mapFds: number[], pool: Buffer[], offsets: Uint32Array[], onReady: NativeBatchReady, lingerMs: number): ConsumerHandle;
  perfbufNew(mapFd: number, pageCount: number, pool: Buffer[], offsets: Uint32Array[], onReady: NativeBatchReady): ConsumerHandle;
  consumerStart(c: ConsumerHandle): void;
  consumerRelease(c: ConsumerHandle, index: number): void;
  consumerStop(c: ConsumerHandle): void;
  consumerStats(c: ConsumerHandle): ConsumerStats;
  consumerRef(c: ConsumerHandle, ref: boolean): void;
}

function addonPath(): string {
  // dist/src/native.js -> package root is two levels above dist/src.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const root of [join(here, '..', '..'), join(here, '..')]) {
    const candidate = join(root, 'build', 'libbpf_ts.node');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`libbpf-ts: native addon build/libbpf_ts.node not found near ${here}; run 'make' in the libbpf-ts package (needs libbpf-dev, libelf-dev, zlib1g-dev and a C compiler)`);
}

let cached: NativeAddon | undefined;

/** The loaded addon (loaded on first use, so that importing the package never fails). */
export function native(): NativeAddon {
  cached ??= createRequire(import.meta.url)(addonPath()) as NativeAddon;
  return cached;
}
