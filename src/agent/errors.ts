// Errors the CLI maps to distinct exit codes.

/** A part podflow needs is not in this build or cannot run here (not root, no BPF). */
export class UnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnavailableError';
  }
}
