// What programs and maps need from the object that owns them, kept as an
// interface so that program.ts and map.ts do not import object.ts.
import type { ObjectHandle } from './native.js';

export interface ObjectOwner {
  /** The native handle; throws BpfError when the object is closed. */
  handle(): ObjectHandle;
  /** Throws BpfError naming `what` unless the object is loaded and open. */
  requireLoaded(what: string): void;
  /** Throws BpfError naming `what` unless the object is open and not yet loaded. */
  requireNotLoaded(what: string): void;
}
