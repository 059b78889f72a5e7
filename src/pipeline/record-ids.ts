// Record ids "<node>/<boot id>/<seq>": unique per agent run, so an
// at-least-once consumer can de-duplicate, and gaps in seq are visible.
import { randomBytes } from 'node:crypto';

export class RecordIdAssigner {
  private readonly prefix: string;
  private seq = 0;

  /** bootId defaults to 8 random hex digits, new on every agent start. */
  constructor(nodeName: string, readonly bootId: string = randomBytes(4).toString('hex')) {
    if (!nodeName) throw new Error('record ids need a node name: set nodeName (e.g. from the NODE_NAME environment variable)');
    this.prefix = `${nodeName}/${bootId}/`;
  }

  next(): string {
    return this.prefix + ++this.seq;
  }

  /** Sequence numbers handed out so far. */
  get issued(): number {
    return this.seq;
  }
}
