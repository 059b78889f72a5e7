// What one queued record holds on the JS heap, estimated on the hot path
// without walking it: a size per record type (the objects and short strings
// records of that type carry, as the decoders build them) plus the strings
// whose length varies widely (HTTP path and host, DNS name and answers). Pod
// and Service metadata are shared by every record of that pod or service, so
// they cost nothing per record. V8's x64 sizes with pointer compression,
// rounded up. It errs high: since the decoders share transport, observation
// and interface objects and IPv4 text, the records they make for the
// benchmark's mix (bench/pipeline.bench.ts) hold 590 (FLOW) to 890 (DNS) bytes
// each before their id, where this estimates 960 to 1,120.
import { podflow } from '../proto/gen/flow.js';
import type { FlowRecord } from './types.js';

const T = podflow.v1.RecordType;
/** A string's header; its characters come on top (one byte each for ASCII). */
const STRING = 20;
/** Any record: the object, id, conversation id, time, transport, observation, two endpoints with their ip strings. */
const RECORD = 760;
/** What each type adds (sub-messages of about 48 bytes, short strings such as a TCP state or a command). */
const BY_TYPE: readonly number[] = (() => {
  const extra: number[] = new Array<number>(16).fill(0);
  extra[T.FLOW] = 240; // startTime, interface, traffic, tcp
  extra[T.TCP_OPEN] = 200; // tcp with srtt, process with command
  extra[T.TCP_CLOSE] = 360; // startTime, traffic, tcp with srtt and duration, process
  extra[T.TCP_FAILED] = 160;
  extra[T.TCP_RESET] = 160;
  extra[T.RETRANSMIT] = 200;
  extra[T.DROP] = 160; // interface, drop with reason
  extra[T.DNS] = 260; // startTime, interface, dns with latency, original destination
  extra[T.HTTP] = 220; // startTime, interface, http with latency and version
  extra[T.LOSS] = 100;
  return extra;
})();

function str(s: string | null | undefined): number {
  return s ? STRING + s.length : 0;
}

/** Estimated heap bytes held by `record`; the id is not read (the pipeline assigns it after reserving). */
export function estimateRecordBytes(r: FlowRecord): number {
  const type = r.type ?? 0;
  let n = RECORD + (BY_TYPE[type] ?? 0);
  if (type === T.HTTP) {
    const http = r.http;
    if (http) n += str(http.path) + str(http.host);
  } else if (type === T.DNS) {
    const dns = r.dns;
    if (dns) {
      n += str(dns.query);
      const answers = dns.answers;
      if (answers) for (let i = 0; i < answers.length; i++) n += 8 + str(answers[i]);
    }
  }
  return n;
}
