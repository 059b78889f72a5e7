// The agent's local live view: a unix socket serving the record stream as
// JSON lines to `podflow observe`, and status/probes answers to `podflow
// status`. It is a Sink of the pipeline, so it sees exactly what the sinks see.
// A slow client never stalls the agent: past its buffer bound its records are
// dropped and counted, and it gets a LOSS record once it catches up. Its
// memory is bounded (and counted in memoryLimit): maxConnections x
// clientBufferBytes, plus the historySize records of the --last ring.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { timestampFromMs } from '../pipeline/record-factory.js';
import { RecordType, type FlowRecord, type Sink } from '../pipeline/types.js';
import { observeEncoder } from './observe-format.js';
import { MAX_REQUEST_BYTES, parseObserveRequest, type ObserveRequest } from './observe-protocol.js';
import type { AgentIntrospection, ObserveStats } from './status.js';

export type RecordPredicate = (record: FlowRecord) => boolean;
/** Compiles an observe request's filter (the pipeline's filter semantics). */
export type FilterCompiler = (filter: NonNullable<Extract<ObserveRequest, { op: 'observe' }>['filter']>) => RecordPredicate;

export interface ObserveServerOptions {
  socketPath: string;
  /** Bytes queued per client before its records are dropped. */
  clientBufferBytes: number;
  /** Connections served at once (streams and status requests); more are refused with an error line. */
  maxConnections: number;
  /** Recent records kept for `--last N`. */
  historySize: number;
  agent: AgentIntrospection;
  compileFilter: FilterCompiler;
  logger: Logger;
}

interface StreamClient {
  socket: Socket;
  matches: RecordPredicate;
  encode: (record: FlowRecord) => string;
  /** Records dropped since the client last caught up. */
  pendingLoss: number;
}

export class ObserveServer implements Sink {
  readonly name = 'observe';
  readonly ready = true;
  private server: Server | undefined;
  private readonly clients = new Set<StreamClient>();
  /** Open connections, whatever they asked for: each may buffer up to clientBufferBytes. */
  private connections = 0;
  private refused = 0;
  private readonly history: FlowRecord[] = [];
  private historyNext = 0;
  private dropped = 0;

  constructor(private readonly opts: ObserveServerOptions) {}

  /** Listens on the socket; refuses when another agent already serves it. */
  async listen(): Promise<void> {
    const path = this.opts.socketPath;
    if (await isServed(path)) throw new Error(`another podflow agent is already serving ${path}; stop it or set observeSocket to another path`);
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    rmSync(path, { force: true });
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot listen on observe socket ${path}: ${err.message}`, { cause: err })));
      server.listen({ path }, resolve);
    });
    // The stream shows every pod's traffic: the agent's user and group only.
    chmodSync(path, 0o660);
    this.server = server;
  }

  stats(): ObserveStats {
    return { clients: this.clients.size, dropped: this.dropped, refused: this.refused };
  }

  async start(): Promise<void> {}

  async write(records: readonly FlowRecord[]): Promise<void> {
    for (const record of records) {
      this.remember(record);
      for (const client of this.clients) this.send(client, record);
    }
  }

  async flush(): Promise<void> {}

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const client of this.clients) client.socket.end();
    this.clients.clear();
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.opts.socketPath, { force: true });
  }

  private remember(record: FlowRecord): void {
    if (this.opts.historySize === 0) return;
    if (this.history.length < this.opts.historySize) this.history.push(record);
    else this.history[this.historyNext] = record;
    this.historyNext = (this.historyNext + 1) % this.opts.historySize;
  }

  /** The remembered records, oldest first. */
  private recent(): FlowRecord[] {
    return this.history.length < this.opts.historySize
      ? this.history
      : [...this.history.slice(this.historyNext), ...this.history.slice(0, this.historyNext)];
  }

  private accept(socket: Socket): void {
    socket.on('error', (err) => this.opts.logger.debug({ err }, 'observe client connection error'));
    if (this.connections >= this.opts.maxConnections) {
      this.refused++;
      this.refuse(socket, `the agent serves at most ${this.opts.maxConnections} observe connections at once (queues.observeClients); try again later`);
      return;
    }
    this.connections++;
    socket.once('close', () => this.connections--);
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline < 0) {
        if (buffered.length > MAX_REQUEST_BYTES) this.refuse(socket, `request longer than ${MAX_REQUEST_BYTES} bytes`);
        return;
      }
      socket.off('data', onData);
      try {
        this.serve(socket, parseObserveRequest(buffered.slice(0, newline)));
      } catch (err) {
        this.refuse(socket, (err as Error).message);
      }
    };
    socket.on('data', onData);
  }

  private refuse(socket: Socket, message: string): void {
    socket.end(JSON.stringify({ error: message }) + '\n');
  }

  private serve(socket: Socket, request: ObserveRequest): void {
    if (request.op === 'status') {
      socket.end(JSON.stringify({ status: this.opts.agent.status() }) + '\n');
      return;
    }
    if (request.op === 'probes') {
      socket.end(JSON.stringify({ probes: this.opts.agent.probes() }) + '\n');
      return;
    }
    const client: StreamClient = {
      socket, matches: this.opts.compileFilter(request.filter ?? {}), encode: observeEncoder(request.format ?? 'json'), pendingLoss: 0,
    };
    const replay = this.recent().filter(client.matches);
    for (const record of replay.slice(Math.max(0, replay.length - (request.last ?? 0)))) this.send(client, record);
    if (!request.follow) {
      socket.end();
      return;
    }
    this.clients.add(client);
    socket.on('drain', () => this.reportLoss(client));
    socket.on('close', () => this.clients.delete(client));
    this.opts.logger.debug({ clients: this.clients.size }, 'observe client following');
  }

  private send(client: StreamClient, record: FlowRecord): void {
    if (!client.matches(record)) return;
    if (client.socket.writableLength >= this.opts.clientBufferBytes) {
      client.pendingLoss++;
      this.dropped++;
      return;
    }
    client.socket.write(client.encode(record) + '\n');
  }

  /** Tells a client that caught up how many records it missed, as a LOSS record. */
  private reportLoss(client: StreamClient): void {
    if (client.pendingLoss === 0) return;
    const loss: FlowRecord = {
      type: RecordType.LOSS,
      time: timestampFromMs(Date.now()),
      loss: { stage: 'observe', reason: 'slow_client', count: client.pendingLoss },
    };
    client.pendingLoss = 0;
    client.socket.write(client.encode(loss) + '\n');
  }
}

/** True when something accepts connections on the socket path. */
function isServed(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
}
