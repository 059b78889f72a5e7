// Deciding a record's originalDestination.
import type { FlowRecord } from '../../pipeline/types.js';
import type { Destination, OriginalDestinationLookup } from './original-destinations.js';

/**
 * Sets record.originalDestination when the client asked for something other
 * than record.destination (the endpoint reached). Two sources, in order: what
 * the packets themselves showed (the request went to `requested`, the answer
 * came from destination: translation happened between the two sightings), then
 * the socket's own connect()/sendmsg() destination from the svc programs.
 */
export function setOriginalDestination(
  record: FlowRecord,
  protocol: number,
  requested: Destination | undefined,
  sockets: OriginalDestinationLookup | undefined,
): void {
  const src = record.source;
  const dst = record.destination;
  if (!src?.ip || !dst?.ip) return;
  const differs = (d: Destination | undefined): d is Destination => d !== undefined && (d.ip !== dst.ip || d.port !== (dst.port ?? 0));
  let orig = differs(requested) ? requested : undefined;
  if (!orig && sockets) {
    const asked = sockets.lookup(src.ip, src.port ?? 0, protocol);
    if (differs(asked)) orig = asked;
  }
  if (orig) record.originalDestination = { ip: orig.ip, port: orig.port };
}
