// The built-in sinks, registered by name. A new sink adds one registerSink line here.
import { FileSink, type FileFormat } from './file.js';
import { registerLazySink, registerSink } from './registry.js';
import { StdoutSink } from './stdout.js';

export { createSink, loadSinks, registerLazySink, registerSink, sinkNames, type SinkFactory, type SinkFactoryContext } from './registry.js';

registerSink('stdout', (ctx) => new StdoutSink({ format: ctx.output, productVersion: ctx.productVersion }));

registerSink('file', (ctx) => {
  const s = ctx.settings as { path?: string; format?: FileFormat; maxBytes?: number; maxFiles?: number; gzip?: boolean };
  return new FileSink({
    path: s.path ?? '',
    format: s.format ?? ctx.output,
    maxBytes: s.maxBytes,
    maxFiles: s.maxFiles,
    gzip: s.gzip,
    productVersion: ctx.productVersion,
  });
});

// kafkajs and the OpenTelemetry SDK take long to load: imported only by an agent that uses them.
// Their settings are the sinks' own options (KafkaSinkOptions, OtlpSinkOptions).
registerLazySink('kafka', async () => (await import('./kafka-sink.js')).kafkaSinkFactory);
registerLazySink('otlp', async () => (await import('./otlp-sink.js')).otlpSinkFactory);
