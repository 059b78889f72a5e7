// TLS material for the network sinks (Kafka, OTLP), read from files (mounted
// Secrets) at start(), so a missing or unreadable file is an error at start-up
// that names the option and the path.
import { readFile } from 'node:fs/promises';

export interface TlsFileOptions {
  /** PEM CA bundle to verify the server; the system roots when absent. */
  caFile?: string;
  /** PEM client certificate and key, for mutual TLS (both or neither). */
  certFile?: string;
  keyFile?: string;
  /** Name to verify the server certificate against, when it differs from the address. */
  serverName?: string;
  insecureSkipVerify?: boolean;
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

/**
 * A PEM file's contents. Node ignores a CA that is not PEM without a word, and
 * the connection then fails later as an unverifiable certificate: a file
 * without the expected PEM block is refused here, naming the option.
 */
async function readPem(sink: string, option: string, path: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Promise<Buffer> {
  const name = `${sink}.${option}`;
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (err) {
    throw new Error(`${sink} sink: cannot read ${name} "${path}": ${(err as Error).message} (expected a readable PEM file)`, { cause: err });
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(pem.toString('latin1'))) {
    throw new Error(`${sink} sink: ${name} "${path}" holds no PEM ${kind.toLowerCase()} (expected a "-----BEGIN ${kind}-----" block)`);
  }
  return pem;
}

export async function readTlsMaterial(sink: string, options: TlsFileOptions): Promise<TlsMaterial> {
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw new Error(`${sink} sink: ${sink}.tls.certFile and ${sink}.tls.keyFile go together (client certificate authentication needs both)`);
  }
  return {
    ca: options.caFile === undefined ? undefined : await readPem(sink, 'tls.caFile', options.caFile, 'CERTIFICATE'),
    cert: options.certFile === undefined ? undefined : await readPem(sink, 'tls.certFile', options.certFile, 'CERTIFICATE'),
    key: options.keyFile === undefined ? undefined : await readPem(sink, 'tls.keyFile', options.keyFile, 'PRIVATE KEY'),
    servername: options.serverName,
    rejectUnauthorized: !options.insecureSkipVerify,
  };
}
