// kafkajs ships gzip only; snappy, lz4 and zstd come in as codec objects it
// looks up by compression type. Registered once per process, before the first
// producer sends (kafkajs resolves the codec at send time).
import type { CompressionTypes as CompressionType } from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import lz4 from 'lz4-napi';
import zstd from '@mongodb-js/zstd';
import kafkajs from './kafka-client.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

export const KAFKA_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type KafkaCompression = (typeof KAFKA_COMPRESSIONS)[number];

/** What kafkajs calls with the encoded record batch (its Encoder exposes `.buffer`). */
interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

// Kafka's LZ4 is the standard LZ4 frame format with independent blocks (what
// lz4_flex writes by default); its zstd is a plain zstd frame.
const lz4Codec = (): KafkaCodec => ({
  compress: (encoder) => lz4.compressFrame(encoder.buffer),
  decompress: (buffer) => lz4.decompressFrame(buffer),
});

// Level 3 is zstd's own default: most of the ratio at a fraction of the CPU of higher levels.
const zstdCodec = (): KafkaCodec => ({
  compress: (encoder) => zstd.compress(encoder.buffer, 3),
  decompress: (buffer) => zstd.decompress(buffer),
});

let registered = false;

export function registerKafkaCodecs(): void {
  if (registered) return;
  const codecs = CompressionCodecs as Record<number, () => KafkaCodec>;
  codecs[CompressionTypes.Snappy] = SnappyCodec as () => KafkaCodec;
  codecs[CompressionTypes.LZ4] = lz4Codec;
  codecs[CompressionTypes.ZSTD] = zstdCodec;
  registered = true;
}

export function compressionType(name: KafkaCompression): CompressionType {
  switch (name) {
    case 'none': return CompressionTypes.None;
    case 'gzip': return CompressionTypes.GZIP;
    case 'snappy': return CompressionTypes.Snappy;
    case 'lz4': return CompressionTypes.LZ4;
    case 'zstd': return CompressionTypes.ZSTD;
    default:
      throw new Error(`unknown Kafka compression "${String(name)}": expected one of ${KAFKA_COMPRESSIONS.join(', ')}`);
  }
}
