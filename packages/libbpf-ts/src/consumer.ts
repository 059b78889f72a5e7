// Batch consumers of BPF ring buffers and perf buffers. A native thread waits
// (epoll) for records and copies them into one of maxBatchesInFlight
// preallocated batch Buffers; JavaScript gets one call per batch. A batch is
// in flight from the moment it is handed over until onBatch returns (or the
// Promise it returns settles). When every batch is in flight the thread stops
// consuming: the kernel-side buffer fills, and the BPF program's reserve/output
// fails where the program counts its drops. Memory never grows.
import { constants } from 'node:os';
import { BpfError, NotSupportedError, nativeErrno, nativeReason } from './errors.js';
import { MapType } from './constants.js';
import type { BpfMap } from './map.js';
import { native, type ConsumerHandle } from './native.js';

/**
 * Receives `count` records packed back to back in `batch`: record i is
 * batch.subarray(offsets[i], offsets[i + 1]) (offsets has count + 1 entries).
 * The memory behind batch and offsets is reused once onBatch returns (or its Promise settles):
 * copy what you keep.
 */
export type BatchHandler = (batch: Buffer, offsets: Uint32Array, count: number) => void | Promise<void>;

export interface ConsumerOptions {
  /** Batches handed to JavaScript and not yet finished; default 4. */
  maxBatchesInFlight?: number;
  /** Bytes per batch Buffer; default 1 MiB. A batch is handed over when full or when the buffer runs empty. */
  batchBytes?: number;
  /** Called when onBatch throws or rejects; default: rethrown as an uncaught exception. */
  onError?: (err: unknown) => void;
}

export interface ConsumerStats {
  /** Batches handed to JavaScript. */
  batches: number;
  /** Records handed to JavaScript. */
  records: number;
  /** Record bytes handed to JavaScript. */
  bytes: number;
  /** Times the native thread found every batch in flight and stopped consuming until one came back. */
  stalls: number;
  /** Samples the kernel reported lost (perf buffers only; ring-buffer drops are counted by the BPF program). */
  lost: number;
  /** Records larger than batchBytes, skipped (raise batchBytes above the largest record). */
  oversized: number;
  /**
   * Records the buffers held at stop() that found no free batch (JavaScript held every one): consumed
   * and counted here. The others committed before stop() are still handed over, after it returns.
   */
  droppedAtStop: number;
}

abstract class BatchConsumer {
  readonly #onBatch: BatchHandler;
  readonly #onError: (err: unknown) => void;
  protected readonly pool: Buffer[];
  protected readonly offsets: Uint32Array[];
  #handle: ConsumerHandle | null = null;
  #state: 'new' | 'running' | 'stopped' = 'new';
  #ref = true;

  protected constructor(onBatch: BatchHandler, opts: ConsumerOptions) {
    const inFlight = opts.maxBatchesInFlight ?? 4;
    const batchBytes = opts.batchBytes ?? 1 << 20;
    if (!Number.isInteger(inFlight) || inFlight < 1 || inFlight > 1024) {
      throw new BpfError(`maxBatchesInFlight must be an integer in 1..1024, got ${inFlight}`, constants.errno.EINVAL);
    }
    if (!Number.isInteger(batchBytes) || batchBytes < 4096 || batchBytes > 1 << 30) {
      throw new BpfError(`batchBytes must be an integer in 4096..2^30, got ${batchBytes}`, constants.errno.EINVAL);
    }
    this.#onBatch = onBatch;
    this.#onError = opts.onError ?? ((err) => queueMicrotask(() => { throw err; }));
    // Not zero-filled: each is a fresh allocation whose pages stay non-resident until the thread writes
    // them (a zero fill, or calloc from a heap grown past glibc's raised mmap threshold, would touch every
    // page up front). Only written bytes are handed out: batch[0, bytes) is packed back to back and
    // offsets[0, count] are the thread's.
    this.pool = Array.from({ length: inFlight }, () => Buffer.allocUnsafeSlow(batchBytes));
    // One offset per record of at least 8 bytes (the ring buffer's granularity) plus the end offset.
    const offsetCount = Math.floor(batchBytes / 8) + 1;
    this.offsets = Array.from({ length: inFlight }, () => new Uint32Array(Buffer.allocUnsafeSlow(offsetCount * 4).buffer, 0, offsetCount));
  }

  protected abstract create(onReady: (index: number, count: number, bytes: number) => void): ConsumerHandle;

  /** Starts the native thread. */
  start(): this {
    if (this.#state !== 'new') throw new BpfError(`consumer already ${this.#state}`, constants.errno.EINVAL);
    const handle = this.create((index, count, bytes) => this.#deliver(index, count, bytes));
    try {
      if (!this.#ref) native().consumerRef(handle, false);
      native().consumerStart(handle);
    } catch (err) {
      // Release the thread-safe function now: a referenced one would keep the process alive forever.
      native().consumerStop(handle);
      throw new BpfError(`cannot start the consumer thread: ${nativeReason(err)}`, nativeErrno(err));
    }
    this.#handle = handle;
    this.#state = 'running';
    return this;
  }

  /**
   * Stops and joins the native thread. Idempotent. What the buffers held by then is still handed over,
   * after this returns (through the event loop), as far as batches are free; the rest is counted in
   * stats().droppedAtStop.
   */
  stop(): void {
    if (this.#state !== 'running' || !this.#handle) {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopped';
    native().consumerStop(this.#handle);
  }

  /** A running consumer keeps the process alive (like a server socket) unless unref()'d. */
  unref(): this {
    this.#ref = false;
    if (this.#handle && this.#state === 'running') native().consumerRef(this.#handle, false);
    return this;
  }

  ref(): this {
    this.#ref = true;
    if (this.#handle && this.#state === 'running') native().consumerRef(this.#handle, true);
    return this;
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  stats(): ConsumerStats {
    if (!this.#handle) return { batches: 0, records: 0, bytes: 0, stalls: 0, lost: 0, oversized: 0, droppedAtStop: 0 };
    return native().consumerStats(this.#handle);
  }

  #deliver(index: number, count: number, bytes: number): void {
    const handle = this.#handle;
    if (!handle) return;
    let result: void | Promise<void>;
    try {
      result = this.#onBatch(this.pool[index]!.subarray(0, bytes), this.offsets[index]!.subarray(0, count + 1), count);
    } catch (err) {
      native().consumerRelease(handle, index);
      this.#onError(err);
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => native().consumerRelease(handle, index),
        (err: unknown) => {
          native().consumerRelease(handle, index);
          this.#onError(err);
        },
      );
    } else {
      native().consumerRelease(handle, index);
    }
  }
}

function mapFd(map: BpfMap, type: number, consumer: string): number {
  if (map.type !== type) {
    throw new BpfError(`${consumer} needs a ${type === MapType.RINGBUF ? 'BPF_MAP_TYPE_RINGBUF' : 'BPF_MAP_TYPE_PERF_EVENT_ARRAY'} map; '${map.name}' is ${map.typeName}`, constants.errno.EINVAL);
  }
  return map.fd;
}

export interface RingBufferOptions extends ConsumerOptions {
  /**
   * After a wakeup, how long the thread waits for more records before draining, in milliseconds; default 10.
   * The kernel wakes a consumer only when it has caught up, so a fast consumer is woken (and calls
   * JavaScript) once per record; lingering makes that once per interval, at the price of this much latency.
   * The wait ends early when a ring is a quarter full. 0: drain at every wakeup.
   */
  lingerMs?: number;
}

/** Consumes one or more BPF_MAP_TYPE_RINGBUF maps on one native thread. */
export class RingBufferConsumer extends BatchConsumer {
  readonly #maps: BpfMap[];
  readonly #lingerMs: number;

  constructor(maps: BpfMap | readonly BpfMap[], onBatch: BatchHandler, opts: RingBufferOptions = {}) {
    super(onBatch, opts);
    this.#maps = Array.isArray(maps) ? [...maps] : [maps as BpfMap];
    if (this.#maps.length === 0) throw new BpfError('RingBufferConsumer needs at least one map', constants.errno.EINVAL);
    this.#lingerMs = opts.lingerMs ?? 10;
    if (!Number.isInteger(this.#lingerMs) || this.#lingerMs < 0 || this.#lingerMs > 1000) {
      throw new BpfError(`lingerMs must be an integer in 0..1000, got ${this.#lingerMs}`, constants.errno.EINVAL);
    }
  }

  protected create(onReady: (index: number, count: number, bytes: number) => void): ConsumerHandle {
    const fds = this.#maps.map((m) => mapFd(m, MapType.RINGBUF, 'RingBufferConsumer'));
    try {
      return native().ringbufNew(fds, this.pool, this.offsets, onReady, this.#lingerMs);
    } catch (err) {
      throw new BpfError(`cannot start ring buffer consumer on ${this.#maps.map((m) => m.name).join(', ')}: ${nativeReason(err)}`, nativeErrno(err));
    }
  }
}

export interface PerfBufferOptions extends ConsumerOptions {
  /** Pages of each per-CPU buffer (a power of two); default 64. */
  pageCount?: number;
}

/** Consumes a BPF_MAP_TYPE_PERF_EVENT_ARRAY (one buffer per CPU), for kernels without ring buffers. */
export class PerfBufferConsumer extends BatchConsumer {
  readonly #map: BpfMap;
  readonly #pageCount: number;

  constructor(map: BpfMap, onBatch: BatchHandler, opts: PerfBufferOptions = {}) {
    super(onBatch, opts);
    this.#map = map;
    this.#pageCount = opts.pageCount ?? 64;
    if (!Number.isInteger(this.#pageCount) || this.#pageCount < 1 || (this.#pageCount & (this.#pageCount - 1)) !== 0) {
      throw new BpfError(`pageCount must be a power of two, got ${this.#pageCount}`, constants.errno.EINVAL);
    }
  }

  protected create(onReady: (index: number, count: number, bytes: number) => void): ConsumerHandle {
    const fd = mapFd(this.#map, MapType.PERF_EVENT_ARRAY, 'PerfBufferConsumer');
    try {
      return native().perfbufNew(fd, this.#pageCount, this.pool, this.offsets, onReady);
    } catch (err) {
      const errno = nativeErrno(err);
      if (errno === constants.errno.ENOENT || errno === constants.errno.EOPNOTSUPP) throw new NotSupportedError('perf buffer', nativeReason(err), errno);
      throw new BpfError(`cannot start perf buffer consumer on ${this.#map.name}: ${nativeReason(err)}`, errno);
    }
  }
}
