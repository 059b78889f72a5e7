// BpfObject: one BPF ELF object (bpf_object) from open to close. Before load:
// set globals, resize maps, choose programs; load() verifies everything;
// close() frees programs and maps (links stay until destroyed).
import { basename } from 'node:path';
import { constants, endianness } from 'node:os';
import { BpfError, LoadError, nativeErrno, nativeReason } from './errors.js';
import { installLogger, takeLibbpfOutput } from './log.js';
import { BpfMap } from './map.js';
import { native, type ObjectHandle } from './native.js';
import type { ObjectOwner } from './owner.js';
import { Program } from './program.js';

export interface OpenOptions {
  /** Object name (prefix of map names such as '<name>.rodata'); default: the file name without '.bpf.o' / '.o'. */
  name?: string;
  /** Kernel BTF to use for CO-RE relocations instead of /sys/kernel/btf/vmlinux (e.g. a BTFHub file for kernels without BTF). */
  btfCustomPath?: string;
}

const LITTLE = endianness() === 'LE';

export class BpfObject implements ObjectOwner {
  /** The object's name, as libbpf uses it for its data-section maps. */
  readonly name: string;
  readonly programs: readonly Program[];
  readonly maps: readonly BpfMap[];
  #handle: ObjectHandle | null;
  #loaded = false;
  #loading: Promise<void> | null = null;

  private constructor(name: string, handle: ObjectHandle) {
    this.name = name;
    this.#handle = handle;
    const n = native();
    this.programs = n.objPrograms(handle).map((p) => new Program(p, this));
    this.maps = n.objMaps(handle).map((m) => new BpfMap(m, this));
  }

  /** Opens (parses, not yet loads) an object from a file path or from the bytes of one. Throws LoadError. */
  static open(source: string | Buffer, opts: OpenOptions = {}): BpfObject {
    installLogger();
    const name = opts.name ?? (typeof source === 'string' ? basename(source).replace(/(\.bpf)?\.o$/, '') : 'object');
    takeLibbpfOutput();
    let handle: ObjectHandle;
    try {
      handle = native().objOpen(source, name, opts.btfCustomPath ?? null);
    } catch (err) {
      const what = typeof source === 'string' ? source : `a ${source.length}-byte buffer`;
      const log = takeLibbpfOutput();
      throw new LoadError(`cannot open BPF object ${what}: ${nativeReason(err)}`, nativeErrno(err), { libbpfMessage: log, verifierLog: '' });
    }
    return new BpfObject(name, handle);
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /** The program named `name` (its C function name); throws BpfError listing the names when absent. */
  program(name: string): Program {
    const p = this.programs.find((x) => x.name === name);
    if (!p) throw new BpfError(`object ${this.name} has no program '${name}'; it has: ${this.programs.map((x) => x.name).join(', ') || 'none'}`, constants.errno.ENOENT);
    return p;
  }

  /** The map named `name` (data sections are '<object>.rodata', '.bss', ... as libbpf names them). */
  map(name: string): BpfMap {
    const m = this.maps.find((x) => x.name === name);
    if (!m) throw new BpfError(`object ${this.name} has no map '${name}'; it has: ${this.maps.map((x) => x.name).join(', ') || 'none'}`, constants.errno.ENOENT);
    return m;
  }

  /**
   * Sets a global variable (const volatile in .rodata, or .data/.bss) before load. A number or bigint is
   * written in host byte order with the variable's BTF size (1, 2, 4 or 8 bytes); a Buffer must have that size.
   */
  setGlobal(name: string, value: Buffer | number | bigint): this {
    this.requireNotLoaded(`setGlobal(${name})`);
    const info = this.#global(name);
    const bytes = Buffer.isBuffer(value) ? value : encodeInteger(name, value, info.size);
    if (bytes.length !== info.size) {
      throw new BpfError(`global ${name} is ${info.size} bytes (in ${info.section}), got a ${bytes.length}-byte value`, constants.errno.EINVAL);
    }
    native().objSetGlobal(this.handle(), info.map, info.offset, bytes);
    return this;
  }

  /** The bytes of a global variable: its initial value before load, the kernel's current value after. */
  getGlobal(name: string): Buffer {
    const info = this.#global(name);
    if (!this.#loaded) return native().objGetGlobal(this.handle(), info.map, info.offset, info.size);
    const section = this.map(info.map).lookup(Buffer.alloc(4));
    if (!section) throw new BpfError(`global ${name}: data section map ${info.map} has no value`, constants.errno.ENOENT);
    return Buffer.from(section.subarray(info.offset, info.offset + info.size));
  }

  /** Loads every autoload program and creates the maps. Throws LoadError with libbpf's output and the verifier log. */
  load(): void {
    this.requireNotLoaded('load');
    takeLibbpfOutput();
    try {
      native().objLoad(this.handle());
    } catch (err) {
      const log = takeLibbpfOutput();
      throw loadError(this.name, err, log);
    }
    this.#loaded = true;
  }

  /**
   * load() on libuv's thread pool, for objects whose verification takes long
   * enough to matter to the JS thread (seconds for a large one). Until the
   * promise settles the object must not be used (calls throw EBUSY); close()
   * may be called, and frees the object once the kernel is done with it.
   * libbpf's messages printed meanwhile go only into a failure's LoadError.
   */
  async loadAsync(): Promise<void> {
    this.requireNotLoaded('loadAsync');
    takeLibbpfOutput();
    const loading = native().objLoadAsync(this.handle());
    this.#loading = loading;
    try {
      await loading;
    } catch (err) {
      throw loadError(this.name, err, takeLibbpfOutput());
    } finally {
      this.#loading = null;
    }
    if (!this.#handle) throw new BpfError(`object ${this.name} was closed while it loaded`, constants.errno.EBADF);
    this.#loaded = true;
  }

  /** Closes programs and maps. Idempotent. Links already attached stay until destroyed. */
  close(): void {
    const h = this.#handle;
    if (!h) return;
    this.#handle = null;
    for (const m of this.maps) m.detach();
    // A load in progress uses the object on another thread: free it once that ends.
    if (this.#loading) void this.#loading.catch(() => {}).then(() => native().objClose(h));
    else native().objClose(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  handle(): ObjectHandle {
    if (!this.#handle) throw new BpfError(`object ${this.name} is closed`, constants.errno.EBADF);
    if (this.#loading) throw new BpfError(`object ${this.name} is loading (loadAsync); wait for it`, constants.errno.EBUSY);
    return this.#handle;
  }

  requireLoaded(what: string): void {
    this.handle();
    if (!this.#loaded) throw new BpfError(`${what}: object ${this.name} is not loaded yet; call load() first`, constants.errno.EINVAL);
  }

  requireNotLoaded(what: string): void {
    this.handle();
    if (this.#loaded) throw new BpfError(`${what}: object ${this.name} is already loaded; this must happen before load()`, constants.errno.EINVAL);
  }

  #global(name: string): { section: string; map: string; offset: number; size: number } {
    const info = native().objGlobalInfo(this.handle(), name);
    if (!info) throw new BpfError(`object ${this.name} has no global variable '${name}' in .rodata/.data/.bss (is it static or optimised out?)`, constants.errno.ENOENT);
    return info;
  }
}

function encodeInteger(name: string, value: number | bigint, size: number): Buffer {
  if (typeof value === 'number' && !Number.isInteger(value)) {
    throw new BpfError(`global ${name}: ${value} is not an integer; pass a Buffer for non-integer types`, constants.errno.EINVAL);
  }
  if (![1, 2, 4, 8].includes(size)) {
    throw new BpfError(`global ${name} is ${size} bytes: pass a Buffer of that size`, constants.errno.EINVAL);
  }
  const v = BigInt(value);
  const bits = BigInt(size * 8);
  const min = -(1n << (bits - 1n));
  const max = (1n << bits) - 1n;
  if (v < min || v > max) {
    throw new BpfError(`global ${name}: ${value} does not fit in ${size} bytes`, constants.errno.ERANGE);
  }
  const buf = Buffer.alloc(8);
  if (LITTLE) buf.writeBigUInt64LE(BigInt.asUintN(64, v));
  else buf.writeBigUInt64BE(BigInt.asUintN(64, v));
  return LITTLE ? buf.subarray(0, size) : buf.subarray(8 - size);
}

const BEGIN_LOG = '-- BEGIN PROG LOAD LOG --';
const END_LOG = '-- END PROG LOAD LOG --';

/** Builds a LoadError from libbpf's output: the failing program's name and the verifier log it printed. */
function loadError(objectName: string, err: unknown, log: string): LoadError {
  const errno = nativeErrno(err);
  const program = /prog '([^']+)': (?:BPF program load failed|failed to load|-- BEGIN)/.exec(log)?.[1]
    ?? /prog '([^']+)'/.exec(log)?.[1];
  const begin = log.indexOf(BEGIN_LOG);
  const end = log.indexOf(END_LOG, begin);
  const verifierLog = begin >= 0 ? log.slice(begin + BEGIN_LOG.length, end >= 0 ? end : undefined).replace(/^\n/, '') : '';
  const lastLine = log.trim().split('\n').filter((l) => !l.includes('PROG LOAD LOG')).at(-1) ?? '';
  const detail = program ? `program ${program} was rejected` : nativeReason(err);
  return new LoadError(`cannot load BPF object ${objectName}: ${detail}${lastLine ? ` (libbpf: ${lastLine.replace(/^libbpf: /, '')})` : ''}`, errno, { program, libbpfMessage: log, verifierLog });
}
