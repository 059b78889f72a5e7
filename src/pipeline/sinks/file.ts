// Appends records to a file, rotating by size: podflow.log -> podflow.log.1
// -> ... -> podflow.log.<maxFiles>, the oldest deleted; rotated files
// optionally gzipped (podflow.log.1.gz). Formats: lines (json, ocsf, human)
// or length-delimited protobuf (a varint length before each FlowRecord).
import { createReadStream, createWriteStream } from 'node:fs';
import { constants } from 'node:fs';
import { access, mkdir, open, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { createRecordEncoder, RECORD_FORMATS, type RecordFormat } from '../../proto/record-encoder.js';
import type { FlowRecord, Sink } from '../types.js';

export const FILE_FORMATS = RECORD_FORMATS;
export type FileFormat = RecordFormat;

export interface FileSinkOptions {
  path: string;
  format: FileFormat;
  /** Rotate before the file would exceed this size (default 100 MiB). */
  maxBytes?: number;
  /** Rotated files kept besides the current one (default 5; 0 keeps none). */
  maxFiles?: number;
  /** Gzip rotated files (default false). */
  gzip?: boolean;
  productVersion: string;
}

export class FileSink implements Sink {
  readonly name = 'file';
  private readonly encode: (record: FlowRecord) => Uint8Array;
  private readonly maxBytes: number;
  private readonly maxFiles: number;
  private handle: FileHandle | undefined;
  private size = 0;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly options: FileSinkOptions) {
    if (!options.path) throw new Error('file sink: path is empty (expected a file path, e.g. /var/log/podflow/flows.jsonl)');
    if (!(FILE_FORMATS as readonly string[]).includes(options.format)) {
      throw new Error(`file sink: format "${options.format}" is not supported (expected one of ${FILE_FORMATS.join(', ')})`);
    }
    this.maxBytes = options.maxBytes ?? 100 * 1024 * 1024;
    this.maxFiles = options.maxFiles ?? 5;
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 1) throw new Error(`file sink: maxBytes ${options.maxBytes} is not valid (expected a positive integer)`);
    if (!Number.isInteger(this.maxFiles) || this.maxFiles < 0) throw new Error(`file sink: maxFiles ${options.maxFiles} is not valid (expected an integer >= 0)`);
    const encode = createRecordEncoder(options.format, { productVersion: options.productVersion, delimited: true });
    this.encode = (r) => {
      const encoded = encode(r);
      return typeof encoded === 'string' ? Buffer.from(encoded + '\n') : encoded;
    };
  }

  get ready(): boolean {
    return this.handle !== undefined;
  }

  async start(): Promise<void> {
    await refuseKernelFilesystem(this.options.path);
    try {
      await mkdir(dirname(this.options.path), { recursive: true });
      await this.openCurrent();
    } catch (err) {
      throw new Error(`file sink: cannot open ${this.options.path}: ${await whyUnusable(this.options.path, err)}`, { cause: err });
    }
  }

  write(records: readonly FlowRecord[]): Promise<void> {
    const result = this.tail.then(() => this.writeBatch(records));
    this.tail = result.catch(() => undefined);
    return result;
  }

  async flush(): Promise<void> {
    await this.tail;
    await this.handle?.datasync();
  }

  async stop(): Promise<void> {
    await this.tail;
    await this.handle?.close();
    this.handle = undefined;
  }

  private async openCurrent(): Promise<void> {
    this.handle = await open(this.options.path, 'a');
    this.size = (await stat(this.options.path)).size;
  }

  private async writeBatch(records: readonly FlowRecord[]): Promise<void> {
    if (!this.handle) throw new Error(`file sink: ${this.options.path} is not open`);
    let chunks: Uint8Array[] = [];
    let pending = 0;
    for (const record of records) {
      const bytes = this.encode(record);
      if (this.size + pending + bytes.length > this.maxBytes && this.size + pending > 0) {
        await this.append(chunks, pending);
        await this.rotate();
        chunks = [];
        pending = 0;
      }
      chunks.push(bytes);
      pending += bytes.length;
    }
    await this.append(chunks, pending);
  }

  private async append(chunks: Uint8Array[], length: number): Promise<void> {
    if (length === 0) return;
    await this.handle!.write(Buffer.concat(chunks, length));
    this.size += length;
  }

  private rotated(n: number): string {
    return `${this.options.path}.${n}${this.options.gzip ? '.gz' : ''}`;
  }

  private async rotate(): Promise<void> {
    await this.handle!.close();
    this.handle = undefined;
    const path = this.options.path;
    if (this.maxFiles === 0) {
      await rm(path, { force: true });
    } else {
      await rm(this.rotated(this.maxFiles), { force: true });
      for (let n = this.maxFiles - 1; n >= 1; n--) await rename(this.rotated(n), this.rotated(n + 1)).catch(ignoreMissing);
      if (this.options.gzip) {
        await pipeline(createReadStream(path), createGzip(), createWriteStream(this.rotated(1)));
        await rm(path);
      } else {
        await rename(path, this.rotated(1));
      }
    }
    await this.openCurrent();
  }
}

/** statfs f_type of the kernel's virtual filesystems, by name. */
const KERNEL_FILESYSTEMS = new Map([[0x9fa0, 'proc'], [0x62656572, 'sysfs']]);

/**
 * Records cannot go to /proc or /sys, and a recursive mkdir under /proc never
 * returns (Node loops on its ENOENT): refuse such a path, also one that reaches
 * procfs or sysfs elsewhere (a /host/proc mount, a symlink), before touching it.
 */
async function refuseKernelFilesystem(path: string): Promise<void> {
  const absolute = resolve(path);
  const refuse = (what: string) => {
    throw new Error(`file sink: ${path} is ${what}, where records cannot be written; expected a path on a regular filesystem, e.g. /var/log/podflow/flows.jsonl`);
  };
  if (/^\/(proc|sys)(\/|$)/.test(absolute)) refuse(`under /${absolute.split('/')[1]}`);
  // The nearest existing ancestor tells the filesystem the file would be created on.
  let dir = dirname(absolute);
  let type: number | undefined;
  while (type === undefined) {
    try {
      type = (await statfs(dir)).type;
    } catch (err) {
      // Unreadable: start() reports the open error itself.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dir === '/') return;
      dir = dirname(dir);
    }
  }
  const name = KERNEL_FILESYSTEMS.get(type);
  if (name) refuse(`on ${name} (${dir})`);
}

/**
 * Why the path could not be opened, in the operator's terms: Node's own message names the system call's
 * symptom (a recursive mkdir reports a file in the way as EEXIST, a read-only filesystem below a missing
 * directory as ENOENT), so the nearest existing part of the path is examined instead.
 */
async function whyUnusable(path: string, err: unknown): Promise<string> {
  const message = (err as Error).message;
  let existing = resolve(path);
  for (;;) {
    try {
      const isDir = (await stat(existing)).isDirectory();
      if (existing === resolve(path)) {
        if (isDir) return `it is a directory; expected a file path, e.g. ${join(path, 'flows.jsonl')}`;
      } else if (!isDir) {
        return `${existing} is not a directory (a file of that name is in the way)`;
      }
      break;
    } catch (statErr) {
      const code = (statErr as NodeJS.ErrnoException).code;
      // EACCES: a directory above cannot be searched; the walk ends at one this user can see.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EACCES') || existing === '/') return message;
      existing = dirname(existing);
    }
  }
  try {
    await access(existing, constants.W_OK);
  } catch (accessErr) {
    const code = (accessErr as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return `${existing} is on a read-only filesystem`;
    if (code === 'EACCES') return `permission denied: ${existing} is not writable by uid ${process.getuid?.()} (gid ${process.getgid?.()})`;
  }
  return message;
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
