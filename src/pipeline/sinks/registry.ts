// Sinks by name, so the agent can build `--sink stdout --sink kafka` from
// configuration. Each sink module registers its factory (see sinks/index.ts).
// A sink whose module loads heavy client libraries (Kafka, OTLP) registers a
// loader instead, so commands that never use it start fast; loadSinks() runs
// the loaders of the sinks a configuration names before createSink().
import type { LineFormat } from '../../proto/record-encoder.js';
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

interface Registration {
  factory?: SinkFactory;
  load?: () => Promise<SinkFactory>;
}

const registrations = new Map<string, Registration>();

function register(name: string, registration: Registration): void {
  if (registrations.has(name)) throw new Error(`sink "${name}" is registered twice`);
  registrations.set(name, registration);
}

export function registerSink(name: string, factory: SinkFactory): void {
  register(name, { factory });
}

/** Registers a sink whose module is imported only when loadSinks() names it. */
export function registerLazySink(name: string, load: () => Promise<SinkFactory>): void {
  register(name, { load });
}

export function sinkNames(): string[] {
  return [...registrations.keys()];
}

function registration(name: string): Registration {
  const found = registrations.get(name);
  if (!found) throw new Error(`unknown sink "${name}" (expected one of ${sinkNames().join(', ')})`);
  return found;
}

/** Imports the modules of the named lazily registered sinks; throws naming an unknown sink. */
export async function loadSinks(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const r = registration(name);
    if (!r.factory) r.factory = await r.load!();
  }
}

/** Builds a sink; throws naming the sink when the name is unknown, not loaded yet, or its settings are invalid. */
export function createSink(name: string, context: SinkFactoryContext): Sink {
  const factory = registration(name).factory;
  if (!factory) throw new Error(`sink "${name}" is not loaded yet (await loadSinks(["${name}"]) before createSink)`);
  return factory(context);
}
