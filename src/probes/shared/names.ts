// Kernel numbers to the names records carry.
import { constants } from 'node:os';

/** include/net/tcp_states.h */
export const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV'] as const;

export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `STATE_${state}`;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** Why a connect never established, from the socket's error. */
export function connectFailure(errno: number): string {
  switch (errno) {
    case 0:
      return 'ABORTED'; // closed by the application before the handshake ended
    case constants.errno.ECONNREFUSED:
      return 'REFUSED';
    case constants.errno.ETIMEDOUT:
      return 'TIMEOUT';
    case constants.errno.EHOSTUNREACH:
    case constants.errno.ENETUNREACH:
      return 'UNREACHABLE';
    default:
      return ERRNO_NAMES.get(errno) ?? `ERRNO_${errno}`;
  }
}
