// A fixed-capacity FIFO over a preallocated ring: push and shift never
// allocate, and a full queue refuses instead of growing. Each item may carry a
// weight (its estimated bytes) so the queue knows what it holds in total.
export class BoundedQueue<T> {
  private readonly slots: (T | undefined)[];
  private readonly weights: Uint32Array;
  private head = 0;
  private size = 0;
  private total = 0;
  /** The weight of the item the last shift() returned. */
  lastWeight = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<T | undefined>(capacity).fill(undefined);
    this.weights = new Uint32Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Sum of the weights of the items held. */
  get weight(): number {
    return this.total;
  }

  /** False when full: the caller drops and counts. */
  push(item: T, weight = 0): boolean {
    if (this.size === this.capacity) return false;
    // Wrapping by comparison: an integer division per record shows in profiles.
    let tail = this.head + this.size;
    if (tail >= this.capacity) tail -= this.capacity;
    this.slots[tail] = item;
    this.weights[tail] = weight;
    this.total += weight;
    this.size++;
    return true;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const head = this.head;
    const item = this.slots[head];
    this.slots[head] = undefined;
    this.lastWeight = this.weights[head]!;
    this.total -= this.lastWeight;
    this.head = head + 1 === this.capacity ? 0 : head + 1;
    this.size--;
    return item;
  }

  /** Removes up to max items into a new array (one allocation per batch). */
  take(max: number): T[] {
    const n = Math.min(max, this.size);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = this.shift() as T;
    return out;
  }

  /** Empties the queue, returning how many items were discarded. */
  clear(): number {
    const n = this.size;
    while (this.size > 0) this.shift();
    return n;
  }
}
