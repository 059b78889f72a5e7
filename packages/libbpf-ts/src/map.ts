// BpfMap: typed access to one BPF map by fd. Keys and values are Buffers of
// exactly keySize / valueSize bytes (per-CPU maps: possibleCpus() slots of
// valueSize rounded up to 8), checked before any syscall.
import { unlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { MapError, nativeErrno, nativeReason } from './errors.js';
import { MapType, UpdateFlags, nameOf } from './constants.js';
import { native, type NativeMapInfo } from './native.js';
import type { ObjectOwner } from './owner.js';

const PER_CPU_TYPES: ReadonlySet<number> = new Set([MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE]);
const BATCH_TYPES: ReadonlySet<number> = new Set([MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH]);

let possible: number | undefined;

/** Number of possible CPUs (the per-CPU value slot count), from /sys/devices/system/cpu/possible. */
export function possibleCpus(): number {
  possible ??= native().numPossibleCpus();
  return possible;
}

export type UpdateFlag = 'any' | 'noexist' | 'exist';

/** Result of lookupAndDeleteBatch: `count` entries packed in keys/values, and which kernel path served them. */
export interface BatchResult {
  count: number;
  /** count * keySize bytes. */
  keys: Buffer;
  /** count * valueBufferSize bytes. */
  values: Buffer;
  /** 'batch': BPF_MAP_LOOKUP_AND_DELETE_BATCH; 'iterate': get_next_key + lookup + delete (kernel or map type lacks batch ops). */
  path: 'batch' | 'iterate';
}

/**
 * Buffers a caller keeps for repeated lookupBatch or lookupAndDeleteBatch calls (a map polled or drained
 * every tick), from batchBuffers():
 * each call's result is then views of them, valid until the next call with the same buffers.
 */
export interface BatchBuffers {
  keys: Buffer;
  values: Buffer;
}

export class BpfMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly flags: number;
  #maxEntries: number;
  #owner: ObjectOwner | null;
  #fd: number;
  #pinnedAt: string | null = null;
  #batchUnsupported = false;
  /** The kernel has no BPF_MAP_LOOKUP_AND_DELETE_ELEM for this map type: lookupAndDelete reads, then deletes. */
  #singleUnsupported = false;

  /** @internal Maps come from BpfObject.map(), BpfMap.fromPinned() or BpfMap.fromFd(). */
  constructor(info: NativeMapInfo, owner: ObjectOwner | null, fd = -1) {
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.flags = info.flags;
    this.#maxEntries = info.maxEntries;
    this.#owner = owner;
    this.#fd = fd;
  }

  /** Opens a map pinned in bpffs (BPF_OBJ_GET). The caller closes it with close(). */
  static fromPinned(path: string): BpfMap {
    let fd: number;
    try {
      fd = native().objGet(path);
    } catch (err) {
      throw new MapError(path, 'open pinned', nativeErrno(err), nativeReason(err));
    }
    try {
      return new BpfMap(native().mapInfo(fd), null, fd);
    } catch (err) {
      native().closeFd(fd); // e.g. the pin is a program, not a map
      throw new MapError(path, 'open pinned', nativeErrno(err), nativeReason(err));
    }
  }

  /** Wraps a map fd (the map's properties are read from the kernel). The BpfMap now owns the fd. */
  static fromFd(fd: number): BpfMap {
    let info: NativeMapInfo;
    try {
      info = native().mapInfo(fd);
    } catch (err) {
      throw new MapError(`fd ${fd}`, 'open', nativeErrno(err), nativeReason(err));
    }
    return new BpfMap(info, null, fd);
  }

  /** Kernel map type name, e.g. 'RINGBUF'. */
  get typeName(): string {
    return nameOf(MapType, this.type);
  }

  get maxEntries(): number {
    return this.#maxEntries;
  }

  get isPerCpu(): boolean {
    return PER_CPU_TYPES.has(this.type);
  }

  /** Bytes a value buffer must have: valueSize, or possibleCpus() * roundup(valueSize, 8) for per-CPU maps. */
  get valueBufferSize(): number {
    return this.isPerCpu ? possibleCpus() * Math.ceil(this.valueSize / 8) * 8 : this.valueSize;
  }

  /** The map's fd (valid while its object is loaded and open). */
  get fd(): number {
    if (this.#owner) {
      this.#owner.requireLoaded(`map ${this.name}`);
      if (this.#fd < 0) this.#fd = native().objMapFd(this.#owner.handle(), this.name);
    } else if (this.#fd < 0) {
      throw new MapError(this.name, 'fd', constants.errno.EBADF, 'the map is closed');
    }
    return this.#fd;
  }

  /** Sets max_entries before load (e.g. a ring buffer's size in bytes, a power of two multiple of the page size). */
  resize(maxEntries: number): this {
    if (!Number.isInteger(maxEntries) || maxEntries <= 0 || maxEntries > 0xffffffff) {
      throw new MapError(this.name, 'resize', constants.errno.EINVAL, `max entries must be an integer in 1..2^32-1, got ${maxEntries}`);
    }
    if (!this.#owner) throw new MapError(this.name, 'resize', constants.errno.EINVAL, 'only maps of an unloaded BpfObject can be resized');
    this.#owner.requireNotLoaded(`resize map ${this.name}`);
    try {
      native().mapSetMaxEntries(this.#owner.handle(), this.name, maxEntries);
    } catch (err) {
      throw new MapError(this.name, 'resize', nativeErrno(err), nativeReason(err));
    }
    this.#maxEntries = maxEntries;
    return this;
  }

  /**
   * Before load: the object uses `existing` (a loaded map, e.g. of another object) instead of creating
   * this one, so both objects' programs share it. Type, key and value sizes and max entries must match
   * (checked here). The object takes its own reference: `existing` may be closed later.
   */
  reuse(existing: BpfMap): this {
    if (!this.#owner) throw new MapError(this.name, 'reuse', constants.errno.EINVAL, 'only maps of an unloaded BpfObject can reuse another map');
    this.#owner.requireNotLoaded(`reuse map ${this.name}`);
    if (existing.type !== this.type || existing.keySize !== this.keySize || existing.valueSize !== this.valueSize || existing.maxEntries !== this.maxEntries) {
      throw new MapError(this.name, 'reuse', constants.errno.EINVAL,
        `'${existing.name}' (${existing.typeName}, key ${existing.keySize}, value ${existing.valueSize}, ${existing.maxEntries} entries) does not match (${this.typeName}, key ${this.keySize}, value ${this.valueSize}, ${this.maxEntries} entries)`);
    }
    try {
      native().mapReuseFd(this.#owner.handle(), this.name, existing.fd);
    } catch (err) {
      throw new MapError(this.name, 'reuse', nativeErrno(err), nativeReason(err));
    }
    return this;
  }

  /** The value stored under key, copied into `out` (or a new Buffer); undefined when absent. */
  lookup(key: Buffer | null, out?: Buffer): Buffer | undefined {
    this.#checkKey('lookup', key);
    const value = out ?? Buffer.alloc(this.valueBufferSize);
    this.#checkValue('lookup', value);
    const found = this.#call('lookup', () => native().mapLookup(this.fd, key, value, 0));
    return found ? value : undefined;
  }

  /** Creates or replaces key's value ('noexist': fail with EEXIST if present; 'exist': fail with ENOENT if absent). */
  update(key: Buffer | null, value: Buffer, flag: UpdateFlag = 'any'): void {
    this.#checkKey('update', key);
    this.#checkValue('update', value);
    const flags = flag === 'noexist' ? UpdateFlags.NOEXIST : flag === 'exist' ? UpdateFlags.EXIST : UpdateFlags.ANY;
    this.#call('update', () => native().mapUpdate(this.fd, key, value, flags));
  }

  /** Deletes key; false when it was absent. */
  delete(key: Buffer): boolean {
    this.#checkKey('delete', key);
    return this.#call('delete', () => native().mapDelete(this.fd, key));
  }

  /**
   * Iterates the keys (BPF_MAP_GET_NEXT_KEY). Each yielded Buffer is fresh, and the caller may delete
   * it: its successor is read before it is yielded. (The kernel answers get_next_key of a key that is
   * gone with the map's first key, so reading it after a delete would start over, yielding the kept
   * keys again: quadratic in the map's size.)
   */
  *keys(): Generator<Buffer> {
    let key = Buffer.alloc(this.keySize);
    if (!this.#call('keys', () => native().mapNextKey(this.fd, null, key))) return;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      const more = this.#call('keys', () => native().mapNextKey(this.fd, key, next));
      yield key;
      if (!more) return;
      key = next;
    }
  }

  /** Iterates [key, value] pairs; entries deleted concurrently are skipped, the yielded one may be deleted. */
  *entries(): Generator<[Buffer, Buffer]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value) yield [key, value];
    }
  }

  /**
   * Reads and deletes up to `max` entries (default: all) in one pass: BPF_MAP_LOOKUP_AND_DELETE_BATCH
   * where the kernel and map type support it, else get_next_key + lookup + delete. `path` says which ran.
   * With `into` (see batchBuffers) the result is written there instead of new buffers.
   */
  lookupAndDeleteBatch(max = this.#maxEntries, into?: BatchBuffers): BatchResult {
    const out = this.#batch('lookupAndDeleteBatch', max, true, into);
    if ('path' in out) return out;
    const { keys, values } = out;
    let count = 0;
    const value = Buffer.alloc(this.valueBufferSize);
    let key = Buffer.alloc(this.keySize);
    let next = Buffer.alloc(this.keySize);
    let more = this.#call('lookupAndDeleteBatch', () => native().mapNextKey(this.fd, null, key));
    while (more && count < out.max) {
      // The successor is read before the key is deleted: asking for the first key again each time
      // makes the kernel rescan every emptied hash bucket (quadratic in the map size).
      more = this.#call('lookupAndDeleteBatch', () => native().mapNextKey(this.fd, key, next));
      if (this.lookup(key, value)) this.#put(keys, values, count++, key, value);
      this.delete(key);
      [key, next] = [next, key];
    }
    return this.#result(keys, values, count, 'iterate');
  }

  /**
   * Reads up to `max` entries (default: all) without deleting them: BPF_MAP_LOOKUP_BATCH where the kernel
   * and map type support it (one call for thousands of entries, where keys() + lookup() make two each),
   * else keys() + lookup(). Entries written meanwhile may or may not be in it. With `into` (see
   * batchBuffers) the result is written there instead of new buffers.
   */
  lookupBatch(max = this.#maxEntries, into?: BatchBuffers): BatchResult {
    const out = this.#batch('lookupBatch', max, false, into);
    if ('path' in out) return out;
    const { keys, values } = out;
    let count = 0;
    for (const [key, value] of this.entries()) {
      if (count === out.max) break;
      this.#put(keys, values, count++, key, value);
    }
    return this.#result(keys, values, count, 'iterate');
  }

  /**
   * The batch calls' result; where the kernel or map type has none, the buffers for up to `max`
   * entries (one call never needs room for more than the map holds) for the caller's iteration.
   * Not zeroed: only the entries read are handed out, and a caller polling a large, mostly empty map
   * (rate-limiter windows, every tick) would clear a megabyte each time.
   */
  #batch(op: string, max: number, remove: boolean, into?: BatchBuffers): BatchResult | { keys: Buffer; values: Buffer; max: number } {
    if (!Number.isInteger(max) || max < 1 || max > 0xffffffff) {
      throw new MapError(this.name, op, constants.errno.EINVAL, `max must be an integer in 1..2^32-1, got ${max}`);
    }
    max = Math.min(max, this.#maxEntries);
    if (into && (into.keys.length < max * this.keySize || into.values.length < max * this.valueBufferSize)) {
      throw new MapError(this.name, op, constants.errno.EINVAL, `the buffers passed hold fewer than ${max} entries; make them with batchBuffers(${max})`);
    }
    const keys = into?.keys ?? Buffer.allocUnsafe(max * this.keySize);
    const values = into?.values ?? Buffer.allocUnsafe(max * this.valueBufferSize);
    if (BATCH_TYPES.has(this.type) && !this.#batchUnsupported) {
      const count = this.#batchPass(keys, values, max, remove);
      if (count >= 0) return this.#result(keys, values, count, 'batch');
    }
    return { keys, values, max };
  }

  /**
   * Buffers for lookupBatch or lookupAndDeleteBatch calls of up to `max` entries (default: all), to reuse: a large map polled
   * every tick would otherwise allocate its full size each time (65,536 entries of 448 bytes: 29 MiB).
   */
  batchBuffers(max = this.#maxEntries): BatchBuffers {
    const n = Math.min(max, this.#maxEntries);
    return { keys: Buffer.allocUnsafe(n * this.keySize), values: Buffer.allocUnsafe(n * this.valueBufferSize) };
  }

  #put(keys: Buffer, values: Buffer, i: number, key: Buffer, value: Buffer): void {
    key.copy(keys, i * this.keySize);
    value.copy(values, i * this.valueBufferSize);
  }

  #result(keys: Buffer, values: Buffer, count: number, path: BatchResult['path']): BatchResult {
    return { count, keys: keys.subarray(0, count * this.keySize), values: values.subarray(0, count * this.valueBufferSize), path };
  }

  /**
   * Deletes key and returns the value it held at that moment, copied into `out` (or a new Buffer);
   * undefined when absent. BPF_MAP_LOOKUP_AND_DELETE_ELEM (hash maps since Linux 5.14): nothing a BPF
   * program adds between the read and the delete is lost. Where the kernel lacks it: lookup, then
   * delete (an update landing between the two is lost).
   */
  lookupAndDelete(key: Buffer, out?: Buffer): Buffer | undefined {
    this.#checkKey('lookupAndDelete', key);
    const value = out ?? Buffer.alloc(this.valueBufferSize);
    if (!this.#singleUnsupported) {
      try {
        return native().mapLookupAndDelete(this.fd, key, value) ? value : undefined;
      } catch (err) {
        const errno = nativeErrno(err);
        if (errno !== constants.errno.EINVAL && errno !== 524 /* ENOTSUPP */ && errno !== constants.errno.EOPNOTSUPP) {
          throw new MapError(this.name, 'lookupAndDelete', errno, nativeReason(err));
        }
        this.#singleUnsupported = true;
      }
    }
    if (!this.lookup(key, value)) return undefined;
    this.delete(key);
    return value;
  }

  /** Pins the map at a bpffs path (e.g. /sys/fs/bpf/podflow/flows). */
  pin(path: string): void {
    this.#call('pin', () => native().objPin(this.fd, path));
    this.#pinnedAt = path;
  }

  /** Removes the pin created by pin(path) (or the given path). */
  unpin(path = this.#pinnedAt): void {
    if (!path) throw new MapError(this.name, 'unpin', constants.errno.EINVAL, 'the map is not pinned by this process; pass the pin path');
    try {
      unlinkSync(path);
    } catch (err) {
      throw new MapError(this.name, 'unpin', nativeErrno(err) || constants.errno.EIO, nativeReason(err));
    }
    if (path === this.#pinnedAt) this.#pinnedAt = null;
  }

  /** Closes the fd of a map opened with fromPinned/fromFd (maps of an object close with it). */
  close(): void {
    if (this.#owner || this.#fd < 0) return;
    native().closeFd(this.#fd);
    this.#fd = -1;
  }

  /** @internal Forgets the fd when the owning object closes. */
  detach(): void {
    this.#fd = -1;
  }

  /** Splits a per-CPU value buffer into one Buffer (valueSize bytes) per possible CPU (views, not copies). */
  perCpuValues(value: Buffer): Buffer[] {
    const stride = Math.ceil(this.valueSize / 8) * 8;
    const out: Buffer[] = [];
    for (let off = 0; off + this.valueSize <= value.length; off += stride) out.push(value.subarray(off, off + this.valueSize));
    return out;
  }

  /** One pass of batch calls (`remove`: lookup-and-delete); -1 when the kernel or map type has no batch ops, or nothing fit. */
  #batchPass(keys: Buffer, values: Buffer, max: number, remove: boolean): number {
    const op = remove ? 'lookupAndDeleteBatch' : 'lookupBatch';
    const vsize = this.valueBufferSize;
    const cursor = Buffer.alloc(Math.max(this.keySize, 8));
    let count = 0;
    let first = true;
    while (count < max) {
      let r: { count: number; more: boolean };
      try {
        r = native().mapLookupBatch(this.fd, first ? null : cursor, cursor, keys.subarray(count * this.keySize), values.subarray(count * vsize), max - count, remove);
      } catch (err) {
        const errno = nativeErrno(err);
        if (count === 0 && (errno === constants.errno.EINVAL || errno === 524 /* ENOTSUPP */ || errno === constants.errno.EOPNOTSUPP)) {
          this.#batchUnsupported = true;
          return -1;
        }
        // The next hash bucket holds more entries than `max` leaves room for: return what fits,
        // or, when nothing did (a small max), let this call take entries one by one.
        if (errno === constants.errno.ENOSPC) return count > 0 ? count : -1;
        throw new MapError(this.name, op, errno, nativeReason(err));
      }
      first = false;
      count += r.count;
      if (!r.more) break;
    }
    return count;
  }

  #checkKey(op: string, key: Buffer | null): void {
    if (this.keySize === 0) {
      if (key !== null && key.length !== 0) throw new MapError(this.name, op, constants.errno.EINVAL, `this ${this.typeName} map has no keys; pass null`);
      return;
    }
    if (!Buffer.isBuffer(key) || key.length !== this.keySize) {
      throw new MapError(this.name, op, constants.errno.EINVAL, `key must be a Buffer of ${this.keySize} bytes, got ${Buffer.isBuffer(key) ? `${key.length} bytes` : String(key)}`);
    }
  }

  #checkValue(op: string, value: Buffer): void {
    const want = this.valueBufferSize;
    if (!Buffer.isBuffer(value) || value.length !== want) {
      const why = this.isPerCpu ? ` (${possibleCpus()} possible CPUs x ${Math.ceil(this.valueSize / 8) * 8} bytes)` : '';
      throw new MapError(this.name, op, constants.errno.EINVAL, `value must be a Buffer of ${want} bytes${why}, got ${Buffer.isBuffer(value) ? `${value.length} bytes` : String(value)}`);
    }
  }

  #call<T>(op: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof MapError) throw err;
      throw new MapError(this.name, op, nativeErrno(err), nativeReason(err));
    }
  }
}
