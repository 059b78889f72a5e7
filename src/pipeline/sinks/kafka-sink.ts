// Delivers FlowRecords to Kafka through kafkajs's idempotent producer
// (acks=all). kafkajs has no accumulator of its own (every send() is one
// request), so this sink keeps one: a bounded buffer that write() fills and a
// single sender that drains it in batches by size and linger time. One send at
// a time keeps the idempotent producer's per-partition sequence in order.
//
// When the broker is unreachable the sender retries the head batch with
// backoff while the buffer holds new writes; once it is full, write() waits up
// to maxBlockMs for room and then sheds the batch's data records, counted as
// lost ("buffer_full"). LOSS records are still taken, from a small reserve
// beyond the buffer: they tell the consumer of every gap, this one included.
// When the broker returns, the same producer resumes: nothing restarts.
import type { Logger } from 'pino';
import type { Kafka, Message, Producer, SASLOptions } from 'kafkajs';
import { RecordType, type FlowRecord, type LossCount, type LossSource, type Sink } from '../types.js';
import type { SinkFactoryContext } from './registry.js';
import { settleWithin, STOP_FLUSH_MS } from './bounded-wait.js';
import kafkajs, { ENCODED_TAIL, Murmur2Partitioner, warnIfKafkajsUnpatched } from './kafka-client.js';
import { compressionType, registerKafkaCodecs, type KafkaCompression } from './kafka-codecs.js';
import { KafkaMessageEncoder, type KafkaEncoding, type KafkaMessage } from './kafka-message.js';
import { readTlsMaterial, type TlsFileOptions } from './kafka-tls.js';

const { Kafka: KafkaClient, logLevel: LogLevel } = kafkajs;

export interface KafkaSaslOptions {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

export interface KafkaSinkOptions {
  /** Bootstrap brokers, HOST:PORT. */
  brokers: string[];
  /** Sink name in metrics and losses ("sink:<name>"); default "kafka". */
  name?: string;
  clientId?: string;
  /** Default "podflow.flows". */
  topic?: string;
  topicPerRecordType?: boolean;
  /** Default "protobuf". */
  encoding?: KafkaEncoding;
  /** Default "zstd": about lz4's CPU per record here, and lighter for the broker (bench/kafka.bench.ts). */
  compression?: KafkaCompression;
  /**
   * A batch (one produce request) is sent once it holds this many encoded bytes
   * (default 4 MiB compressed, 1 MiB with compression "none", the broker's
   * default max.message.bytes per partition: kafkajs keeps one request in
   * flight per broker, so big requests carry the throughput; a partition's
   * share that the broker still finds too large is split and resent)...
   */
  batchBytes?: number;
  /** ...or this many records (default 20,000)... */
  maxBatchRecords?: number;
  /** ...or its oldest record waited this long (default 20 ms). */
  lingerMs?: number;
  /** Encoded bytes the sink holds while the broker is slow or away (default 64 MiB). */
  bufferBytes?: number;
  /** How long write() waits for room in a full buffer before it sheds (default 0). */
  maxBlockMs?: number;
  /** Per request; a request that takes longer is retried (default 30 s). */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Backoff between attempts to deliver one batch: doubles from min to max (default 100 ms .. 5 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * How long start() waits for a topic the broker does not have yet (default
   * 15 s): one that creates topics on demand answers "unknown topic" until its
   * controller has made it, which takes seconds on a busy cluster.
   */
  topicWaitMs?: number;
  /** TLS to the brokers; plaintext when absent. */
  tls?: TlsFileOptions;
  sasl?: KafkaSaslOptions;
  /** metadata.product.version in OCSF records. */
  productVersion?: string;
  logger?: Logger;
}

interface Pending {
  messages: KafkaMessage[];
  head: number;
  bytes: number;
}

// What a buffered message costs beyond its encoded bytes (the message object
// and its view; with kafkajs unpatched, headers and two more views), so
// bufferBytes bounds memory, not payload.
const RECORD_OVERHEAD_BYTES = 200;
/** Room for LOSS records beyond a full buffer: a few per lossInterval, some 300 bytes each. */
export const LOSS_RESERVE_BYTES = 256 * 1024;

export class KafkaSink implements Sink, LossSource {
  readonly name: string;
  private readonly options: Required<Omit<KafkaSinkOptions, 'tls' | 'sasl' | 'logger' | 'name'>>;
  private readonly encoder: KafkaMessageEncoder;
  private readonly pending: Pending = { messages: [], head: 0, bytes: 0 };
  private producer: Producer | null = null;
  private kafka: Kafka | null = null;
  private sending = false;
  /** Bumped when stop() discards the buffer, so a send still in flight does not consume from the next one. */
  private generation = 0;
  private lingerTimer: NodeJS.Timeout | null = null;
  /** Records per batch after the broker refused one as too large; halves again if needed. */
  private splitRecords = Infinity;
  private healthy = false;
  private stopping = false;
  private roomWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private readonly lost = new Map<string, number>();
  /** Records the broker acknowledged. */
  delivered = 0;
  /** Failed attempts to send a batch (each one retried). */
  sendRetries = 0;
  /** Failed attempts, and data records shed as buffer_full, since the last delivery: logged when delivery resumes. */
  private failedAttempts = 0;
  private shedWhileFailing = 0;

  constructor(private readonly config: KafkaSinkOptions) {
    if (config.brokers.length === 0) throw new Error('kafka sink: no brokers configured (expected at least one HOST:PORT)');
    this.name = config.name ?? 'kafka';
    this.options = {
      brokers: config.brokers,
      clientId: config.clientId ?? 'podflow',
      topic: config.topic ?? 'podflow.flows',
      topicPerRecordType: config.topicPerRecordType ?? false,
      encoding: config.encoding ?? 'protobuf',
      compression: config.compression ?? 'zstd',
      batchBytes: config.batchBytes ?? (config.compression === 'none' ? 1 : 4) * 1024 * 1024,
      maxBatchRecords: config.maxBatchRecords ?? 20_000,
      lingerMs: config.lingerMs ?? 20,
      bufferBytes: config.bufferBytes ?? 64 * 1024 * 1024,
      maxBlockMs: config.maxBlockMs ?? 0,
      requestTimeoutMs: config.requestTimeoutMs ?? 30_000,
      connectTimeoutMs: config.connectTimeoutMs ?? 5_000,
      retryMinMs: config.retryMinMs ?? 100,
      retryMaxMs: config.retryMaxMs ?? 5_000,
      topicWaitMs: config.topicWaitMs ?? 15_000,
      productVersion: config.productVersion ?? '0.0.0',
    };
    compressionType(this.options.compression);
    this.encoder = new KafkaMessageEncoder(this.options);
  }

  get ready(): boolean {
    return this.producer !== null && this.healthy;
  }

  /** Encoded bytes waiting for the broker. */
  get bufferedBytes(): number {
    return this.pending.bytes;
  }

  get bufferedRecords(): number {
    return this.pending.messages.length - this.pending.head;
  }

  async start(): Promise<void> {
    registerKafkaCodecs();
    warnIfKafkajsUnpatched(this.config.logger);
    const tls = this.config.tls ? await readTlsMaterial(this.name, this.config.tls) : undefined;
    const target = `${this.options.brokers.join(',')}${this.config.sasl ? ` as "${this.config.sasl.username}" (${this.config.sasl.mechanism})` : ''}`;
    this.kafka = new KafkaClient({
      clientId: this.options.clientId,
      brokers: this.options.brokers,
      ssl: tls,
      sasl: this.config.sasl as SASLOptions | undefined,
      connectionTimeout: this.options.connectTimeoutMs,
      requestTimeout: this.options.requestTimeoutMs,
      // Start-up gives up after a few attempts so a wrong address fails fast.
      retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 3 },
      logLevel: LogLevel.NOTHING,
    });
    try {
      this.producer = await this.connectProducer();
    } catch (err) {
      const hint = connectHint(err, this.config.tls !== undefined, this.config.sasl !== undefined);
      throw new Error(`${this.name} sink: cannot connect to ${target}: ${describe(err)}${hint ? ` (${hint})` : ''}`, { cause: err });
    }
    await this.checkTopics(target);
    this.healthy = true;
    this.stopping = false;
  }

  /**
   * Asks for the topics' metadata as a send does (an empty batch: no record is
   * written), which creates them where the broker creates topics on demand. A
   * topic that is missing (still, after topicWaitMs) or not writable fails start-up:
   * otherwise every send fails, the buffer fills, and the records are shed.
   */
  private async checkTopics(target: string): Promise<void> {
    const topics = this.encoder.allTopics();
    const deadline = Date.now() + this.options.topicWaitMs;
    for (;;) {
      try {
        await this.producer!.sendBatch({ topicMessages: topics.map((topic) => ({ topic, messages: [] })), acks: -1 });
        return;
      } catch (err) {
        if (errorType(err) === 'UNKNOWN_TOPIC_OR_PARTITION' && Date.now() < deadline) {
          await sleep(500);
          continue;
        }
        await this.refuseTopics(target, topics, err);
      }
    }
  }

  /** Fails start(): what is wrong with the topics, and what to do. */
  private async refuseTopics(target: string, topics: string[], err: unknown): Promise<never> {
    await this.producer!.disconnect().catch(() => undefined);
    this.producer = null;
    const names = topics.map((t) => `"${t}"`).join(', ');
    const which = topics.length === 1 ? `topic ${names}` : `topics ${names} (kafka.topicPerRecordType)`;
    let problem: string;
    switch (errorType(err)) {
      case 'UNKNOWN_TOPIC_OR_PARTITION':
        problem = `${which}: not on the broker after ${this.options.topicWaitMs / 1000} s, and it does not create topics on demand (auto.create.topics.enable=false): create ${topics.length === 1 ? 'it' : 'them'}, or set kafka.topic to an existing topic`;
        break;
      case 'TOPIC_AUTHORIZATION_FAILED':
        problem = `${which}: not authorized to write: allow ${this.config.sasl ? `"${this.config.sasl.username}"` : 'this client'} Write and Describe on ${topics.length === 1 ? 'it' : 'them'}, or check kafka.topic`;
        break;
      default:
        problem = `${which}: ${describe(err)}`;
    }
    throw new Error(`${this.name} sink: cannot produce to ${target}, ${problem}`, { cause: err });
  }

  private async connectProducer(): Promise<Producer> {
    const producer = this.kafka!.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Murmur2Partitioner,
      // Delivery retries live in this sink's sender (unbounded while the buffer
      // holds); kafkajs retries a request a few times within one attempt.
      retry: { initialRetryTime: this.options.retryMinMs, maxRetryTime: this.options.retryMaxMs, retries: 5 },
    });
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
    return producer;
  }

  /**
   * kafkajs rolls back the sequence numbers of every partition of a request
   * that failed on any of them, although the broker kept the others: every
   * later request then fails with OUT_OF_ORDER_SEQUENCE_NUMBER. A new producer
   * (new producer id, sequences from 0) recovers; the retried batch may
   * duplicate what the broker kept, which consumers drop by record-id.
   */
  private async renewProducer(): Promise<void> {
    const fresh = await this.connectProducer();
    const old = this.producer;
    if (this.stopping || !old) {
      await fresh.disconnect().catch(() => undefined);
      return;
    }
    this.producer = fresh;
    await old.disconnect().catch(() => undefined);
  }

  write(records: readonly FlowRecord[]): Promise<void> {
    if (!this.producer || this.stopping) {
      return Promise.reject(new Error(`${this.name} sink: write() before start() or after stop()`));
    }
    const messages: KafkaMessage[] = new Array(records.length);
    let bytes = 0;
    for (let i = 0; i < records.length; i++) {
      const message = this.encoder.encode(records[i]);
      messages[i] = message;
      bytes += messageBytes(message);
    }
    if (this.pending.bytes + bytes <= this.options.bufferBytes) {
      this.append(messages, bytes);
      return Promise.resolve();
    }
    return this.waitForRoom(bytes).then((room) => {
      // Stopped while waiting: the write fails and its caller counts it (the pipeline's runner has
      // already counted it as shutdown_deadline if it gave up on it); counting it here too would count it twice.
      if (this.stopping) throw new Error(`${this.name} sink: stopped before the buffer had room for ${records.length} records`);
      if (room) this.append(messages, bytes);
      else this.shed(records, messages);
    });
  }

  /** The buffer is full: LOSS records go into the reserve, the rest is counted lost. */
  private shed(records: readonly FlowRecord[], messages: KafkaMessage[]): void {
    const kept: KafkaMessage[] = [];
    let keptBytes = 0;
    for (let i = 0; i < records.length; i++) {
      if (records[i].type !== RecordType.LOSS) continue;
      const size = messageBytes(messages[i]);
      if (this.pending.bytes + keptBytes + size > this.options.bufferBytes + LOSS_RESERVE_BYTES) break;
      kept.push(messages[i]);
      keptBytes += size;
    }
    this.countLost('buffer_full', records.length - kept.length);
    this.shedWhileFailing += records.length - kept.length;
    if (kept.length > 0) this.append(kept, keptBytes);
  }

  /** Resolves once every accepted record was acknowledged (or counted lost). */
  flush(): Promise<void> {
    this.sendSoon(0);
    if (this.bufferedRecords === 0 && !this.sending) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Delivers for at most `timeoutMs` more (the pipeline flush()es first, within the shutdown deadline),
   * then counts what is left as lost ("shutdown") and disconnects.
   */
  async stop(timeoutMs = STOP_FLUSH_MS): Promise<void> {
    if (!this.producer) return;
    await settleWithin(this.flush(), timeoutMs);
    this.stopping = true;
    const left = this.bufferedRecords;
    if (left > 0) this.countLost('shutdown', left);
    this.generation++;
    this.pending.messages = [];
    this.pending.head = 0;
    this.pending.bytes = 0;
    this.wakeRoomWaiters();
    const producer = this.producer;
    this.producer = null;
    this.healthy = false;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    await settleWithin(producer.disconnect(), STOP_FLUSH_MS);
    this.wakeDrainWaiters();
  }

  losses(): LossCount[] {
    return [...this.lost].map(([reason, count]) => ({ stage: `sink:${this.name}`, reason, count }));
  }

  private append(messages: KafkaMessage[], bytes: number): void {
    for (const m of messages) this.pending.messages.push(m);
    this.pending.bytes += bytes;
    this.sendSoon(this.pending.bytes >= this.options.batchBytes ? 0 : this.options.lingerMs);
  }

  private sendSoon(delayMs: number): void {
    if (this.sending || this.bufferedRecords === 0) return;
    if (delayMs === 0) {
      if (this.lingerTimer) {
        clearTimeout(this.lingerTimer);
        this.lingerTimer = null;
      }
      this.sending = true;
      void this.sendLoop();
    } else if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = null;
        this.sendSoon(0);
      }, delayMs);
    }
  }

  private async sendLoop(): Promise<void> {
    let backoff = this.options.retryMinMs;
    while (this.bufferedRecords > 0 && this.producer && !this.stopping) {
      const batch = this.peekBatch();
      const generation = this.generation;
      try {
        await this.producer.sendBatch({
          topicMessages: groupByTopic(batch.messages),
          acks: -1,
          timeout: this.options.requestTimeoutMs,
          compression: compressionType(this.options.compression),
        });
        this.delivered += batch.messages.length;
        this.healthy = true;
        backoff = this.options.retryMinMs;
        if (this.failedAttempts > 0) {
          // The warnings said it was failing: say that it no longer is, and what the outage cost.
          this.config.logger?.info({ failedAttempts: this.failedAttempts, shed: this.shedWhileFailing, buffered: this.bufferedRecords },
            `${this.name} sink: delivery resumed`);
          this.failedAttempts = 0;
          this.shedWhileFailing = 0;
        }
        // stop() may have given up on the buffer (and counted it) while this send was in flight.
        if (generation !== this.generation) break;
        this.consume(batch.messages.length, batch.bytes);
      } catch (err) {
        if (this.stopping || generation !== this.generation) break;
        if (errorType(err) === 'MESSAGE_TOO_LARGE' && batch.messages.length > 1) {
          // One partition's share exceeds the broker's max.message.bytes: resend in halves.
          this.splitRecords = Math.ceil(batch.messages.length / 2);
          continue;
        }
        if (isPermanent(err)) {
          // The broker refuses these records outright (too large, not
          // authorized, ...): retrying cannot help, so they are counted.
          this.countLost(lossReason(err), batch.messages.length);
          this.config.logger?.error({ err, records: batch.messages.length }, `${this.name} sink: broker rejected a batch`);
          this.consume(batch.messages.length, batch.bytes);
          continue;
        }
        if (SEQUENCE_LOST.has(errorType(err) ?? '')) {
          await this.renewProducer().catch((e: unknown) => this.config.logger?.warn({ err: describe(e) }, `${this.name} sink: cannot renew the producer`));
        }
        this.healthy = false;
        this.sendRetries++;
        this.failedAttempts++;
        this.config.logger?.warn({ err: describe(err), retryInMs: backoff, buffered: this.bufferedRecords }, `${this.name} sink: delivery failed, retrying`);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, this.options.retryMaxMs);
      }
    }
    this.sending = false;
    if (this.bufferedRecords === 0) this.wakeDrainWaiters();
    else if (!this.stopping) this.sendSoon(this.options.lingerMs);
  }

  private peekBatch(): { messages: KafkaMessage[]; bytes: number } {
    const { messages, head } = this.pending;
    let end = head;
    let bytes = 0;
    const limit = Math.min(messages.length, head + Math.min(this.options.maxBatchRecords, this.splitRecords));
    while (end < limit && (bytes === 0 || bytes + messageBytes(messages[end]) <= this.options.batchBytes)) {
      bytes += messageBytes(messages[end]);
      end++;
    }
    return { messages: messages.slice(head, end), bytes };
  }

  private consume(count: number, bytes: number): void {
    this.pending.head += count;
    this.pending.bytes -= bytes;
    // Compact once the consumed prefix dominates, so the array does not grow without bound.
    if (this.pending.head > 4096 && this.pending.head * 2 > this.pending.messages.length) {
      this.pending.messages = this.pending.messages.slice(this.pending.head);
      this.pending.head = 0;
    }
    this.wakeRoomWaiters();
  }

  private waitForRoom(bytes: number): Promise<boolean> {
    if (this.options.maxBlockMs <= 0 || bytes > this.options.bufferBytes) return Promise.resolve(false);
    const deadline = Date.now() + this.options.maxBlockMs;
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.stopping) return resolve(false);
        if (this.pending.bytes + bytes <= this.options.bufferBytes) return resolve(true);
        const left = deadline - Date.now();
        if (left <= 0) return resolve(false);
        const timer = setTimeout(() => {
          this.roomWaiters = this.roomWaiters.filter((w) => w !== onRoom);
          check();
        }, left);
        const onRoom = (): void => {
          clearTimeout(timer);
          check();
        };
        this.roomWaiters.push(onRoom);
      };
      check();
    });
  }

  private wakeRoomWaiters(): void {
    if (this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private countLost(reason: string, count: number): void {
    this.lost.set(reason, (this.lost.get(reason) ?? 0) + count);
  }
}

function messageBytes(m: KafkaMessage): number {
  return m[ENCODED_TAIL].length + RECORD_OVERHEAD_BYTES;
}

function groupByTopic(messages: KafkaMessage[]): { topic: string; messages: Message[] }[] {
  const byTopic = new Map<string, Message[]>();
  for (const m of messages) {
    let list = byTopic.get(m.topic);
    if (!list) byTopic.set(m.topic, (list = []));
    list.push(m);
  }
  return [...byTopic].map(([topic, list]) => ({ topic, messages: list }));
}

// Broker error codes where resending the same records cannot succeed.
const PERMANENT = new Set([
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED', 'INVALID_TOPIC_EXCEPTION', 'UNSUPPORTED_COMPRESSION_TYPE', 'INVALID_REQUIRED_ACKS',
]);

// The broker no longer accepts this producer's sequence numbers.
const SEQUENCE_LOST = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'DUPLICATE_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH']);

function errorType(err: unknown): string | undefined {
  const e = err as { type?: string; originalError?: { type?: string }; cause?: { type?: string } };
  return e?.type ?? e?.originalError?.type ?? e?.cause?.type;
}

function isPermanent(err: unknown): boolean {
  const type = errorType(err);
  return type !== undefined && PERMANENT.has(type);
}

function lossReason(err: unknown): string {
  return (errorType(err) ?? 'rejected').toLowerCase();
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const name = err.name;
  if (name === 'KafkaJSSASLAuthenticationError') {
    return `authentication failed: ${err.message} (check kafka.sasl.username, password and mechanism)`;
  }
  if (name === 'KafkaJSConnectionError' || name === 'KafkaJSNumberOfRetriesExceeded' || name === 'KafkaJSNonRetriableError') {
    const cause = (err as { originalError?: Error; cause?: Error }).originalError ?? (err as { cause?: Error }).cause;
    return cause && cause.message !== err.message ? `${err.message}: ${describe(cause)}` : err.message;
  }
  return err.message;
}

/** The error and the errors it wraps (kafkajs nests them in originalError, Node in cause). */
function errorChain(err: unknown): { name?: string; code?: unknown; type?: string; message?: string }[] {
  const chain = [];
  for (let e = err as { originalError?: unknown; cause?: unknown } | undefined; e && chain.length < 5; e = (e.originalError ?? e.cause) as typeof e) {
    chain.push(e as { name?: string; code?: unknown; type?: string; message?: string });
  }
  return chain;
}

/** What a failed connect most likely means, naming the options to check (undefined when nothing specific is known). */
function connectHint(err: unknown, tls: boolean, sasl: boolean): string | undefined {
  const chain = errorChain(err);
  const has = (test: (e: (typeof chain)[number]) => boolean) => chain.some(test);
  const text = chain.map((e) => `${String(e.code ?? '')} ${e.type ?? ''} ${e.message ?? ''}`).join(' ');
  if (has((e) => e.name === 'KafkaJSSASLAuthenticationError')) return undefined; // describe() names the options
  if (/ECONNREFUSED/.test(text)) return 'nothing listens there: check kafka.brokers, HOST:PORT of a broker listener';
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) return 'the host name does not resolve: check kafka.brokers';
  if (/ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|Connection timeout/i.test(text)) return 'no answer: check kafka.brokers and that the network lets this node reach the broker';
  if (/before secure TLS connection|wrong version number|EPROTO/.test(text)) {
    return 'the listener does not speak TLS: use the broker\'s TLS listener in kafka.brokers, or set kafka.tls.enabled false';
  }
  if (/certificate|CERT_|altnames|SSL|TLS/i.test(text)) {
    return 'TLS failed: check kafka.tls.caFile (the CA that signed the broker\'s certificate), kafka.tls.serverName, and kafka.tls.certFile/keyFile if the broker wants a client certificate';
  }
  if (/ILLEGAL_SASL_STATE|current SASL state/.test(text)) return 'this listener does not take SASL: use the broker\'s SASL listener in kafka.brokers, or remove kafka.sasl';
  if (/UNSUPPORTED_SASL_MECHANISM/.test(text)) return 'the broker does not enable this SASL mechanism: check kafka.sasl.mechanism';
  if (has((e) => e.name === 'KafkaJSConnectionClosedError')) {
    if (!tls) return 'the broker closed the connection: is this a TLS listener (set kafka.tls.enabled) or one that needs SASL (kafka.sasl)?';
    if (!sasl) return 'the broker closed the connection after TLS: does this listener need SASL (kafka.sasl.mechanism, username, password)?';
    return 'the broker closed the connection: check that this listener takes TLS and SASL (kafka.brokers, kafka.tls, kafka.sasl.mechanism)';
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** For sinks/index.ts: the agent maps config.kafka onto KafkaSinkOptions (src/agent/parts.ts). */
export function kafkaSinkFactory(context: SinkFactoryContext): KafkaSink {
  return new KafkaSink(context.settings as unknown as KafkaSinkOptions);
}
