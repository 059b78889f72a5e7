// pino to stderr: stdout carries the record stream (the stdout sink), so
// logs must never interleave with it.
import { pino, type Logger } from 'pino';
import type { PodflowConfig } from '../config/schema.js';

export function createLogger(level: PodflowConfig['logLevel'], nodeName?: string): Logger {
  return pino(
    { level, base: nodeName ? { node: nodeName } : {}, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: true }),
  );
}
