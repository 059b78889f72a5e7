// Deciding a record's originalDestination.
import type { FlowRecord } from '../../pipeline/types.js';
import type { Destination } from './original-destinations.js';

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
  record.originalDestination = { ip: asked.ip, port: asked.port };
  return true;
}
