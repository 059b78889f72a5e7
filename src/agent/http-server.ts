// /metrics, /healthz and /readyz on node:http: the agent's whole HTTP surface.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { HostPort } from '../config/addresses.js';
import type { AgentIntrospection } from './status.js';

/** What to do about a metrics address that cannot be served (--metrics-addr / metricsAddr). */
const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: ' (another process serves that port, often another podflow agent on this node: stop it, or choose another --metrics-addr, or off)',
  EADDRNOTAVAIL: ' (no interface of this host has that address: use one it has, 0.0.0.0 or [::])',
  EACCES: ' (a port below 1024 needs CAP_NET_BIND_SERVICE: choose a higher one)',
};

export class OpsHttpServer {
  private server: Server | undefined;

  constructor(private readonly agent: AgentIntrospection, private readonly registry: Registry) {}

  /** Resolves to the address served, "HOST:PORT" with the port the kernel chose for port 0. */
  async listen(address: HostPort): Promise<string> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${err.message}\n`),
        );
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const readiness = this.agent.readiness();
        res.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(readiness) + '\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`cannot serve metrics on ${address.host}:${address.port}: ${err.code ?? err.message}${LISTEN_HINTS[err.code ?? ''] ?? ''}`, { cause: err })));
      server.listen(address.port, address.host, resolve);
    });
    this.server = server;
    const bound = server.address() as AddressInfo;
    return bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
