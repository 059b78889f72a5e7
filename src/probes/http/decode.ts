// Decodes struct pf_http_event (one request/response exchange, or a request
// and why it got no response) into an HTTP record.
import { podflow } from '../../proto/gen/flow.js';
import { newEndpoint, newRecord, Observations, transportOf } from '../../pipeline/record-factory.js';
import type { FlowRecord } from '../../pipeline/types.js';
import { durationFromNs, readU64 } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import { conversationId } from '../shared/conversation.js';
import { formatIp } from '../shared/ip.js';
import { HttpEvent as L, FlowKey as T, HTTP_NO_RESPONSE, L7_HOOK_NAMES } from '../shared/layouts.js';
import { readOriginalDestination, setOriginalDestination } from '../svc/translate.js';
import { parseRequestHead, parseStatusLine, type StatusLine } from './parse.js';

export type HttpContext = Pick<ProbeContext, 'clock' | 'nodeName' | 'interfaces'>;

const TCP = 6;
const observations = new Observations('http');
/** The status line of a request without response: none. */
const NO_STATUS: StatusLine = { version: '', status: 0 };

/** The exchange at batch[off..]; undefined when the request, or the response it has, is not well-formed HTTP/1.x. */
export function decodeHttpEvent(batch: Buffer, off: number, ctx: HttpContext): FlowRecord | undefined {
  const t = off + L.req_tuple;
  const ipVersion = batch[t + T.ip_version] ?? 0;
  const reqLen = batch.readUInt16LE(off + L.req_len);
  const respLen = batch[off + L.resp_len] ?? 0;
  const noResponse = HTTP_NO_RESPONSE[batch[off + L.no_response] ?? 0];
  if ((ipVersion !== 4 && ipVersion !== 6) || reqLen > 256 || respLen > 16 || noResponse === undefined) return undefined;
  const req = parseRequestHead(batch, off + L.req, off + L.req + reqLen);
  const resp = noResponse === '' ? parseStatusLine(batch, off + L.resp, off + L.resp + respLen) : NO_STATUS;
  if (!req || !resp) return undefined;
  const reqNs = readU64(batch, off + L.req_ns);
  const respNs = readU64(batch, off + L.resp_ns);
  const client = newEndpoint(formatIp(batch, t + T.saddr, ipVersion), batch.readUInt16LE(t + T.sport));
  const server = newEndpoint(formatIp(batch, off + L.resp_saddr, ipVersion), batch.readUInt16LE(off + L.resp_sport));
  const record = newRecord(podflow.v1.RecordType.HTTP, ctx.nodeName);
  record.time = ctx.clock.toTimestamp(respNs);
  record.startTime = ctx.clock.toTimestamp(reqNs);
  record.conversationId = conversationId(ipVersion, TCP, batch, t + T.saddr, client.port!, batch, off + L.resp_saddr, server.port!);
  record.source = client;
  record.destination = server;
  record.transport = transportOf(TCP, ipVersion);
  record.interface = ctx.interfaces.message(batch.readUInt32LE(off + L.req_ifindex));
  record.http = {
    method: req.method,
    path: req.path,
    status: resp.status,
    latency: durationFromNs(Math.max(0, respNs - reqNs)),
    host: req.host,
    version: req.version || resp.version,
    noResponse,
  };
  record.observation = observations.of(L7_HOOK_NAMES[batch[off + L.hook] ?? 0] ?? 'tc');
  const requested = { ip: formatIp(batch, t + T.daddr, ipVersion), port: batch.readUInt16LE(t + T.dport) };
  if (!setOriginalDestination(record, requested)) setOriginalDestination(record, readOriginalDestination(batch, off + L.orig));
  return record;
}
