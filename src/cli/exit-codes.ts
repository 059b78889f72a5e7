// Exit codes scripts can rely on (documented in README.md).
export const EXIT = {
  /** Success, including a clean stop on SIGTERM/SIGINT or after --duration. */
  OK: 0,
  /** The agent failed while running (a sink could not connect, a probe failed to load). */
  FAILURE: 1,
  /** Bad command line or configuration: nothing was started. */
  USAGE: 2,
  /** `podflow status` found no running agent. */
  NO_AGENT: 3,
  /** A part podflow needs is missing here: not root, no BPF, or not in this build. */
  UNAVAILABLE: 4,
} as const;
