// A share of the run-time memory bound: bytes of records held in queues and
// in-flight sink writes (estimateRecordBytes each), against a limit. Every
// queue reserves before it takes a record and releases when the record leaves
// it, so the held total is exact for the estimates and never above the limit;
// a refused reservation is a drop the caller counts as "memory_limit".
export class MemoryBudget {
  private heldBytes = 0;

  /** @param limit bytes; Infinity for no bound. */
  constructor(readonly limit: number) {}

  get held(): number {
    return this.heldBytes;
  }

  /** False (nothing reserved) when `bytes` more would pass the limit. */
  reserve(bytes: number): boolean {
    if (this.heldBytes + bytes > this.limit) return false;
    this.heldBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.heldBytes -= bytes;
  }
}
