// A private instance of the real Kafka broker of test/peers/kafka for a
// benchmark: other engineers' tests stop and restart the shared broker (outage
// tests), which would wreck a latency run. Same jars and script, its own run
// directory and ports (podflow's benchmark range 19390-19399); removed after.
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../../test/peers/kafka', import.meta.url));
const ENV = {
  ...process.env,
  PODFLOW_PEERS_RUN: '/var/tmp/podflow-bench-peers',
  PODFLOW_KAFKA_PORT: '19392',
  PODFLOW_KAFKA_CONTROLLER_PORT: '19393',
  PODFLOW_KAFKA_SASL_SSL_PORT: '19394',
};

export async function startBenchKafka(): Promise<string> {
  // A first start on a machine downloads the jars: minutes.
  const { stdout } = await run(SCRIPT, ['start'], { env: ENV, timeout: 15 * 60_000, maxBuffer: 16 << 20 });
  const bootstrap = /^bootstrap=(.+)$/m.exec(stdout)?.[1];
  if (!bootstrap) throw new Error(`test/peers/kafka start printed no bootstrap=HOST:PORT line:\n${stdout}`);
  return bootstrap;
}

/** Stops the benchmark's broker and deletes its data (synchronous: it runs from Cleanup, also on SIGTERM). */
export function removeBenchKafka(): void {
  execFileSync(SCRIPT, ['clean'], { env: ENV, timeout: 60_000, stdio: 'ignore' });
}
