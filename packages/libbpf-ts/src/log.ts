// libbpf's own messages (libbpf_set_print) go to a JS callback instead of
// stderr. Errors also carry what libbpf printed while the failing call ran.
import { native } from './native.js';

export type LogLevel = 'warn' | 'info' | 'debug';
export type Logger = (level: LogLevel, message: string) => void;

const LEVELS: readonly LogLevel[] = ['warn', 'info', 'debug'];

/** By default libbpf warnings go to stderr, one line each, prefixed with 'libbpf: '. */
const stderrWarnings: Logger = (level, message) => {
  if (level === 'warn') process.stderr.write(message.startsWith('libbpf: ') ? message : `libbpf: ${message}`);
};

let current: Logger | null = stderrWarnings;
let installed = false;
let quiet = 0;

function forward(level: number, message: string): void {
  if (quiet === 0) current?.(LEVELS[level] ?? 'debug', message);
}

/** Ensures libbpf's print callback points at us (called before any libbpf call). */
export function installLogger(): void {
  if (installed) return;
  native().setPrint(forward);
  installed = true;
}

/**
 * Routes libbpf's messages to `logger` (null discards them). Debug messages
 * are produced only when a logger is set, so a logger that ignores 'debug' costs little.
 */
export function setLogger(logger: Logger | null): void {
  current = logger;
  installLogger();
}

/** A message of libbpf-ts itself, through the same logger as libbpf's. */
export function libraryLog(level: LogLevel, message: string): void {
  installLogger();
  current?.(level, `libbpf-ts: ${message}\n`);
}

/** Runs fn with libbpf output captured (for error messages) but not forwarded. */
export function quietly<T>(fn: () => T): T {
  quiet++;
  try {
    return fn();
  } finally {
    quiet--;
  }
}

/** Clears and returns libbpf's output since the previous call. */
export function takeLibbpfOutput(): string {
  installLogger();
  return native().takeCapturedLog();
}
