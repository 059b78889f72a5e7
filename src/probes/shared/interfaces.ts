// The node's network interfaces (ifindex <-> name), re-read from /sys/class/net
// on poll(): new pods' veths appear on the host side as new ifindexes.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface NetInterface {
  index: number;
  name: string;
}

export class InterfaceIndex {
  readonly #root: string;
  #byIndex = new Map<number, string>();
  /** The records' frozen Interface messages by index, rebuilt after each poll (names may change). */
  #messages = new Map<number, Readonly<NetInterface>>();

  constructor(root = '/sys/class/net') {
    this.#root = root;
  }

  name(index: number): string | undefined {
    return this.#byIndex.get(index);
  }

  /** The frozen {index, name} records carry for `index` (name '' when unknown): one object per interface. */
  message(index: number): Readonly<NetInterface> {
    let m = this.#messages.get(index);
    if (m === undefined) {
      m = Object.freeze({ index, name: this.#byIndex.get(index) ?? '' });
      this.#messages.set(index, m);
    }
    return m;
  }

  list(): NetInterface[] {
    return [...this.#byIndex].map(([index, name]) => ({ index, name }));
  }

  /** Re-reads the interfaces; returns the ones that appeared and disappeared since the last poll. */
  poll(): { added: NetInterface[]; removed: NetInterface[] } {
    const next = new Map<number, string>();
    for (const name of readdirSync(this.#root)) {
      try {
        next.set(Number(readFileSync(join(this.#root, name, 'ifindex'), 'utf8').trim()), name);
      } catch {
        // The interface went away between readdir and read: it is not there.
      }
    }
    const added: NetInterface[] = [];
    const removed: NetInterface[] = [];
    for (const [index, name] of next) if (this.#byIndex.get(index) !== name) added.push({ index, name });
    for (const [index, name] of this.#byIndex) if (next.get(index) !== name) removed.push({ index, name });
    this.#byIndex = next;
    this.#messages = new Map();
    return { added, removed };
  }
}
