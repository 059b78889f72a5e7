// Deciding a record's originalDestination.
import { newEndpoint } from '../../pipeline/record-factory.js';
import type { FlowRecord } from '../../pipeline/types.js';
import { formatIp } from '../shared/ip.js';
import { SvcOrig as O } from '../shared/layouts.js';
import type { Destination } from './original-destinations.js';

/**
 * The struct pf_svc_orig at buf[off..] that a dns or http program filled from the svc map: the client
 * socket's connect()/sendmsg() destination; undefined when the map had none (ip_version 0).
 */
export function readOriginalDestination(buf: Buffer, off: number): Destination | undefined {
  const v = buf[off + O.ip_version] ?? 0;
  if (v !== 4 && v !== 6) return undefined;
  return { ip: formatIp(buf, off + O.addr, v), port: buf.readUInt16LE(off + O.port) };
}

/**
 * Sets record.originalDestination to `asked` when the client asked for something other than
 * record.destination (the endpoint reached); returns whether it did. Callers try, in order, what
 * the packets themselves showed (the request went there, the answer came from the destination:
 * translation happened between the two sightings), then the socket's own connect()/sendmsg()
 * destination from the svc programs.
 */
export function setOriginalDestination(record: FlowRecord, asked: Destination | undefined): boolean {
  const dst = record.destination;
  if (!asked || !record.source?.ip || !dst?.ip || (asked.ip === dst.ip && asked.port === (dst.port ?? 0))) return false;
  record.originalDestination = newEndpoint(asked.ip, asked.port);
  return true;
}
