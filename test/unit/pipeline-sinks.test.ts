// The stdout and file sinks, and the sink registry.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { createSink, sinkNames } from '../../src/pipeline/sinks/index.js';
import { FileSink } from '../../src/pipeline/sinks/file.js';
import { StdoutSink } from '../../src/pipeline/sinks/stdout.js';
import { decodeDelimitedFlowRecords } from '../../src/proto/protobuf.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { sampleRecords } from './pipeline-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'pfp-sinks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function numbered(n: number): FlowRecord[] {
  const http = sampleRecords().HTTP;
  return Array.from({ length: n }, (_, i) => ({ ...http, id: `node-a/b/${i + 1}` }));
}

test('stdout sink: one line per record; write() waits for the stream to drain', async () => {
  let release: (() => void) | undefined;
  let chunks = 0;
  let text = '';
  const stream = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, done) {
      chunks++;
      text += chunk.toString();
      release = done; // the reader is stuck until we let it go
    },
  });
  const sink = new StdoutSink({ format: 'human', productVersion: 't', stream });
  let settled = false;
  const first = sink.write(numbered(2)).then(() => (settled = true));
  const second = sink.write(numbered(1));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(settled, false, 'a batch the stream did not take yet keeps write() pending');
  assert.equal(chunks, 1, 'the next batch waits for the drain, it is not buffered');
  release!();
  await new Promise((r) => setTimeout(r, 5));
  release!();
  await Promise.all([first, second]);
  assert.equal(chunks, 2);
  assert.deepEqual(text.trim().split('\n').length, 3);
  assert.match(text, /^\d\d:\d\d:\d\d\.\d{3} default\/frontend-7d9 -> default\/backend-5c2 HTTP GET \/api\/users 200 325ms\n/);
});

test('stdout sink -o json: a chunk the stream still holds is never overwritten by the next batch (its slab is reused only after the write callback)', async () => {
  const held: Buffer[] = [];
  const written: string[] = [];
  // Keeps each chunk without copying and writes it out a little later, as a slow pipe does: what it writes is
  // the chunk's content when its write completes.
  const stream = new Writable({
    highWaterMark: 1 << 30,
    write(chunk: Buffer, _enc, done) {
      held.push(chunk);
      setTimeout(() => {
        written.push(chunk.toString());
        done();
      }, 5);
    },
  });
  const sink = new StdoutSink({ format: 'json', productVersion: 't', stream });
  const records = numbered(300);
  await Promise.all([0, 100, 200].map((from) => sink.write(records.slice(from, from + 100))));
  await sink.flush();
  const ids = written.flatMap((c) => c.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id));
  assert.deepEqual(ids, records.map((r) => r.id));
  assert.ok(held.length === 3 && held[0].buffer === held[2].buffer, 'the slab is reused once the stream is done with it');
});

test('stdout sink fails its writes once the stream broke', async () => {
  const stream = new Writable({ write: (_c, _e, done) => done(new Error('EPIPE')) });
  const sink = new StdoutSink({ format: 'json', productVersion: 't', stream });
  await sink.write(numbered(1)).catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  assert.equal(sink.ready, false);
  await assert.rejects(sink.write(numbered(1)), /stdout: stream failed: EPIPE/);
});

test('stdout sink with a limit (standalone observe): prints that many records, reports it, prints no more', async () => {
  let text = '';
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { text += chunk.toString(); done(); } });
  let reached = 0;
  const sink = new StdoutSink({ encode: (r) => `record ${r.id}`, stream, name: 'observe', limit: { count: 3, reached: () => reached++ } });
  await sink.write(numbered(2));
  assert.equal(reached, 0);
  await sink.write(numbered(2));
  assert.equal(reached, 1);
  await sink.write(numbered(2));
  assert.equal(text.trim().split('\n').length, 3);
  assert.match(text, /^record \S+\n/);
});

test('stdout sink: a stream closed while a write waits for drain rejects that write (`observe | head`), it does not hang', async () => {
  const stream = new Writable({ highWaterMark: 1, write: () => undefined }); // never takes the chunk
  const sink = new StdoutSink({ format: 'human', productVersion: 't', stream });
  const pending = sink.write(numbered(1));
  await new Promise((r) => setTimeout(r, 10));
  stream.destroy();
  await assert.rejects(pending, /stdout: stream closed before the write drained/);
});

test('file sink rotates by size and count, never exceeding maxBytes', async () => {
  const path = join(dir, 'rotate', 'flows.jsonl');
  const sink = new FileSink({ path, format: 'json', maxBytes: 2000, maxFiles: 2, productVersion: 't' });
  await sink.start();
  const records = numbered(60);
  for (let i = 0; i < 60; i += 7) await sink.write(records.slice(i, i + 7));
  await sink.stop();
  const files = readdirSync(join(dir, 'rotate')).sort();
  assert.deepEqual(files, ['flows.jsonl', 'flows.jsonl.1', 'flows.jsonl.2']);
  for (const f of files) assert.ok(statSync(join(dir, 'rotate', f)).size <= 2000, `${f} is too big`);
  // The newest records are in the current file, older ones rotated in order; the oldest were deleted.
  const ids = ['flows.jsonl.2', 'flows.jsonl.1', 'flows.jsonl'].flatMap((f) =>
    readFileSync(join(dir, 'rotate', f), 'utf8').trim().split('\n').map((l) => Number((JSON.parse(l) as { id: string }).id.split('/')[2])));
  assert.equal(ids.at(-1), 60);
  assert.deepEqual(ids, ids.map((_, i) => ids[0] + i), 'consecutive, no gap and no duplicate');
  assert.ok(ids[0] > 1, 'the oldest file was deleted');
});

test('file sink: length-delimited protobuf with gzipped rotations, readable by protoc', async () => {
  const path = join(dir, 'pb', 'flows.pb');
  const sink = new FileSink({ path, format: 'protobuf', maxBytes: 4096, maxFiles: 10, gzip: true, productVersion: 't' });
  await sink.start();
  await sink.write(numbered(40));
  await sink.flush();
  await sink.stop();
  assert.ok(existsSync(`${path}.3.gz`) && !existsSync(`${path}.1`));
  const rotations = readdirSync(join(dir, 'pb')).filter((f) => f.endsWith('.gz')).map((f) => Number(f.split('.')[2])).sort((a, b) => b - a);
  const all = [...rotations.map((n) => gunzipSync(readFileSync(`${path}.${n}.gz`))), readFileSync(path)].flatMap((b) => decodeDelimitedFlowRecords(b));
  assert.deepEqual(all.map((r) => r.id), numbered(40).map((r) => r.id), 'every record once, in order');
  // protoc reads the first frame after its varint length.
  const bytes = readFileSync(path);
  let len = 0, shift = 0, pos = 0;
  for (;;) {
    const b = bytes[pos++];
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) break;
  }
  const text = execFileSync('protoc', ['--decode=podflow.v1.FlowRecord', '-I', 'proto', 'proto/podflow/v1/flow.proto'], { input: bytes.subarray(pos, pos + len) }).toString();
  assert.match(text, /method: "GET"/);
});

test('file sink errors name the path and the setting', async () => {
  assert.throws(() => new FileSink({ path: '', format: 'json', productVersion: 't' }), /file sink: path is empty/);
  assert.throws(() => new FileSink({ path: 'x', format: 'xml' as never, productVersion: 't' }), /format "xml" is not supported \(expected one of human, json, ocsf, protobuf\)/);
  assert.throws(() => new FileSink({ path: 'x', format: 'json', maxBytes: 0, productVersion: 't' }), /maxBytes 0 is not valid/);
  const blocked = join(dir, 'not-a-dir');
  execFileSync('touch', [blocked]);
  await assert.rejects(new FileSink({ path: join(blocked, 'f.jsonl'), format: 'json', productVersion: 't' }).start(), /file sink: cannot open .*not-a-dir\/f\.jsonl/);
});

test('the registry builds sinks by name and names the known ones when asked for another', () => {
  assert.ok(sinkNames().includes('stdout') && sinkNames().includes('file'));
  const ctx = { output: 'json' as const, productVersion: 't', nodeName: 'n', settings: { path: join(dir, 'reg.jsonl') } };
  assert.equal(createSink('file', ctx).name, 'file');
  assert.equal(createSink('stdout', ctx).name, 'stdout');
  assert.throws(() => createSink('carrier-pigeon', ctx), /unknown sink "carrier-pigeon" \(expected one of stdout, file/);
});
