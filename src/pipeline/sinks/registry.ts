// Sinks by name, so the agent can build `--sink stdout --sink kafka` from
// configuration. Each sink module registers its factory (see sinks/index.ts).
import type { LineFormat } from '../../proto/line-encoding.js';
import type { Sink } from '../types.js';

export interface SinkFactoryContext {
  /** The record encoding for text sinks (--output). */
  output: LineFormat;
  productVersion: string;
  nodeName: string;
  /** This sink's validated settings from the configuration (e.g. config.file for the file sink). */
  settings: Record<string, unknown>;
}

export type SinkFactory = (context: SinkFactoryContext) => Sink;

const factories = new Map<string, SinkFactory>();

export function registerSink(name: string, factory: SinkFactory): void {
  if (factories.has(name)) throw new Error(`sink "${name}" is registered twice`);
  factories.set(name, factory);
}

export function sinkNames(): string[] {
  return [...factories.keys()];
}

/** Builds a sink; throws naming the sink when the name is unknown or its settings are invalid. */
export function createSink(name: string, context: SinkFactoryContext): Sink {
  const factory = factories.get(name);
  if (!factory) throw new Error(`unknown sink "${name}" (expected one of ${sinkNames().join(', ')})`);
  return factory(context);
}
