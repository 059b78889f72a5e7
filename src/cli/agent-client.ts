// The CLI side of the observe socket: one request line out, JSON lines back.
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
import { UnavailableError } from '../agent/errors.js';
import type { ObserveRequest } from '../agent/observe-protocol.js';
import type { AgentStatus } from '../agent/status.js';
import type { ProbeStatus } from '../probes/types.js';

/** Nothing listens on the socket: no agent runs on this node (or it uses another socket path). */
export class NoAgentError extends Error {
  constructor(readonly socketPath: string, readonly code: string) {
    super(`no podflow agent is running (nothing serves ${socketPath}: ${code}); start one with \`podflow run\`, or pass --observe-socket if it uses another path`);
    this.name = 'NoAgentError';
  }
}

/**
 * Sends one request and calls onLine for every JSON line of the answer until
 * the agent closes the stream (or `signal` aborts it).
 */
/** onConnect: an agent answered (before any line). */
export function requestAgent(socketPath: string, request: ObserveRequest, onLine: (line: string) => void, signal?: AbortSignal, onConnect?: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath });
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      onConnect?.();
      socket.write(JSON.stringify(request) + '\n');
      const lines = createInterface({ input: socket, crlfDelay: Infinity });
      lines.on('error', () => {}); // the socket's own 'error' handler reports it
      lines.on('line', (line) => {
        if (line.startsWith('{"error":')) {
          reject(new Error(`the agent refused the request: ${(JSON.parse(line) as { error: string }).error}`));
          socket.destroy();
          return;
        }
        onLine(line);
      });
      lines.once('close', () => resolve());
    });
    // A stream ended from this side (Ctrl-C, --duration) is destroyed without an 'end', which readline's 'close'
    // waits for: without this the promise never settled and the command exited 13 (unsettled top-level await).
    socket.once('close', () => resolve());
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) reject(new NoAgentError(socketPath, err.code));
      else if (!connected && err.code === 'EACCES') {
        // The socket (0660, in a 0750 directory) shows every pod's traffic: the agent's user and group only.
        // Not root: exit 4 like the commands that need root to load probes.
        reject(new UnavailableError(`observe socket ${socketPath}: permission denied: it is open to the agent's user and group only; run this command as root (e.g. with sudo) or as a member of that group`, { cause: err }));
      } else reject(new Error(`observe socket ${socketPath}: ${err.message}`, { cause: err }));
    });
    signal?.addEventListener('abort', () => socket.destroy(), { once: true });
  });
}

async function requestOne<T>(socketPath: string, request: ObserveRequest, key: string): Promise<T> {
  let answer: T | undefined;
  await requestAgent(socketPath, request, (line) => {
    answer = (JSON.parse(line) as Record<string, T>)[key];
  });
  if (answer === undefined) throw new Error(`the agent on ${socketPath} closed the connection without answering`);
  return answer;
}

export const fetchStatus = (socketPath: string) => requestOne<AgentStatus>(socketPath, { op: 'status' }, 'status');
export const fetchProbes = (socketPath: string) => requestOne<ProbeStatus[]>(socketPath, { op: 'probes' }, 'probes');
