// The short-connection load of agent-connections and agent-kernel-cost: a
// keep-nothing Node HTTP server in one pod and wrk in the other, every request
// on a new TCP connection (Connection: close).
import type { Cleanup } from './cleanup.js';
import { requireTool, wrkShortConnections, type WrkResult } from './load-tools.js';
import { PodPair, spawnIn, waitForOutput } from './pods.js';

const PORT = 8080;
const CONNECTIONS = 32;

// The load is the connections, not the handler.
const SERVER = `
import { createServer } from 'node:http';
createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end('ok\\n'); })
  .listen(${PORT}, process.argv[1], 4096, () => console.log('listening'));`;

export interface ShortConnections {
  pods: PodPair;
  concurrency: number;
  /** wrk for `seconds`; throws when it made no request or more than 1% errors. */
  run(seconds: number): WrkResult;
}

/** Creates the pods (prefix, client and server /24s) and starts the server; all of it is removed by `cleanup`. */
export async function shortConnections(cleanup: Cleanup, prefix: string, clientNet: string, serverNet: string): Promise<ShortConnections> {
  requireTool('wrk', 'wrk');
  const pods = new PodPair(prefix, clientNet, serverNet);
  cleanup.add(() => pods.remove());
  pods.create();
  // Tens of thousands of connections a run from one client address would run out of 4-tuples: ports held in
  // TIME_WAIT stall new SYNs for a second and the rate collapses (and carries over into the next round).
  for (const pod of [pods.client, pods.server]) pods.sysctl(pod, 'net.ipv4.tcp_max_tw_buckets', '0');
  pods.sysctl(pods.client, 'net.ipv4.ip_local_port_range', '1024 65535');
  const server = spawnIn(pods.server.ns, process.execPath, ['--input-type=module', '-e', SERVER, pods.server.ip]);
  cleanup.add(() => server.kill('SIGKILL'));
  await waitForOutput(server, 'listening');
  const url = `http://${pods.server.ip}:${PORT}/`;
  return {
    pods,
    concurrency: CONNECTIONS,
    run(seconds: number): WrkResult {
      const r = wrkShortConnections(pods.client.ns, url, seconds, CONNECTIONS);
      if (r.requests === 0 || r.errors > r.requests * 0.01) throw new Error(`wrk: ${r.errors} errors in ${r.requests} requests`);
      return r;
    },
  };
}
