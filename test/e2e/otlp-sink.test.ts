// OtlpSink against a real OpenTelemetry Collector (test/peers/otelcol): the
// collector's file exporter output is read back and checked for attributes,
// values and counts. Each test uses its own node name (a Resource attribute)
// to find its own data in the shared output file.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { OtlpSink, type OtlpProtocol } from '../../src/pipeline/sinks/otlp-sink.js';
import { encodeCanonicalJson } from '../../src/proto/json.js';
import { RecordType } from '../../src/pipeline/types.js';
import { httpRecord, knownRecords } from '../peers/flow-fixtures.js';
import {
  attributesOf, collectorLogCounts, logRecordsFor, metricsFor, outputOffset, readCollectorOutput, releasePeer, startPeer, waitFor, withPeerStopped,
} from '../peers/peers.js';

let otelcol: Record<string, string>;
/** Where this run's output starts in the collector's file (earlier runs appended before it). */
let offset = 0;
const run = Date.now().toString(36);

before(async () => {
  otelcol = await startPeer('otelcol');
  offset = await outputOffset(otelcol.output);
});

after(async () => {
  await releasePeer('otelcol');
  await releasePeer('otelcol-bench');
});

function sinkFor(node: string, protocol: OtlpProtocol, extra: Partial<ConstructorParameters<typeof OtlpSink>[0]> = {}): OtlpSink {
  return new OtlpSink({
    endpoint: protocol === 'grpc' ? `http://${otelcol['otlp-grpc']}` : otelcol['otlp-http'],
    protocol,
    nodeName: node,
    clusterName: 'pfd-cluster',
    agentVersion: '0.1.0-test',
    instanceId: 'boot1',
    scheduledDelayMs: 50,
    metricsIntervalMs: 60_000,
    headers: { 'x-podflow-test': run },
    ...extra,
  });
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function logsOf(node: string, expected: number) {
  return waitFor(`${expected} log records of ${node} in ${otelcol.output}`, async () => {
    const logs = logRecordsFor(await readCollectorOutput(otelcol.output, offset), node);
    return logs.length >= expected ? logs : undefined;
  });
}

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  test(`log records over ${protocol}: one per record, semantic-convention attributes, resource, severity, body`, async () => {
    const node = `pfd-${run}-${protocol.replace('/', '-')}`;
    // The default summary body over gRPC, the canonical JSON body over HTTP.
    const sink = sinkFor(node, protocol, protocol === 'grpc' ? {} : { body: 'json' });
    await sink.start();
    const records = [httpRecord(node), ...knownRecords(node, 27)];
    try {
      await sink.write(records);
      await sink.flush();
    } finally {
      await sink.stop();
    }
    assert.deepEqual(sink.losses(), []);

    const logs = await logsOf(node, records.length);
    assert.equal(logs.length, records.length, 'exactly one log record per FlowRecord');
    const http = logs.find((l) => attributesOf(l.record.attributes)['podflow.record.type'] === 'HTTP');
    assert.ok(http);
    assert.deepEqual(http.resource, {
      'service.name': 'podflow', 'service.version': '0.1.0-test', 'service.instance.id': 'boot1',
      'k8s.node.name': node, 'host.name': node, 'k8s.cluster.name': 'pfd-cluster',
    });
    assert.deepEqual(attributesOf(http.record.attributes), {
      'podflow.record.id': `${node}/boot1/1`,
      'podflow.record.type': 'HTTP',
      'podflow.conversation.id': 'conv-http',
      'source.address': '10.233.1.10',
      'source.port': 40000,
      'source.k8s.pod.name': 'frontend-7d9',
      'source.k8s.namespace.name': 'shop',
      'source.k8s.pod.uid': 'uid-frontend-7d9',
      'source.k8s.deployment.name': 'frontend',
      'source.k8s.workload.kind': 'Deployment',
      'destination.address': '10.233.1.20',
      'destination.port': 8080,
      'destination.k8s.pod.name': 'backend-5c2',
      'destination.k8s.namespace.name': 'shop',
      'destination.k8s.pod.uid': 'uid-backend-5c2',
      'destination.k8s.deployment.name': 'backend',
      'destination.k8s.workload.kind': 'Deployment',
      'destination.k8s.service.name': 'backend',
      'destination.k8s.service.namespace': 'shop',
      'network.transport': 'tcp',
      'network.type': 'ipv4',
      'network.interface.name': 'pfd-veth0',
      'http.request.method': 'GET',
      'url.path': '/api/users',
      'http.response.status_code': 200,
      'server.address': 'backend',
      'network.protocol.version': '1.1',
      'podflow.http.latency': 0.325,
      'podflow.probe': 'http',
      'podflow.hook': 'tc',
      'podflow.side': 'server',
    });
    assert.equal(http.record.timeUnixNano, '1796000000250000000');
    assert.equal(http.record.severityText, 'INFO');
    assert.equal(http.record.eventName, 'podflow.http');
    assert.equal(http.record.body?.stringValue, protocol === 'grpc'
      ? 'shop/frontend-7d9 -> shop/backend-5c2 HTTP GET /api/users 200 325ms'
      : encodeCanonicalJson(httpRecord(node)));

    const severities = new Map<string, string>();
    for (const l of logs) severities.set(String(attributesOf(l.record.attributes)['podflow.record.type']), l.record.severityText ?? '');
    assert.deepEqual(Object.fromEntries(severities), {
      HTTP: 'INFO', FLOW: 'INFO', TCP_OPEN: 'INFO', TCP_CLOSE: 'INFO', DNS: 'INFO',
      TCP_FAILED: 'WARN', TCP_RESET: 'WARN', RETRANSMIT: 'WARN', DROP: 'WARN', LOSS: 'ERROR',
    });
    const ids = new Set(logs.map((l) => attributesOf(l.record.attributes)['podflow.record.id']));
    assert.equal(ids.size, records.length);
  });
}

test('metrics: flow bytes and packets by workload pair, RTT, DNS and HTTP histograms, failures and retransmits', async () => {
  const node = `pfd-${run}-metrics`;
  const sink = sinkFor(node, 'grpc', { logs: false });
  await sink.start();
  const records = [httpRecord(node), ...knownRecords(node, 54)];
  try {
    await sink.write(records);
    await sink.flush();
  } finally {
    await sink.stop();
  }
  const metrics = await waitFor('metrics', async () => {
    const m = metricsFor(await readCollectorOutput(otelcol.output, offset), node);
    return m.length > 0 ? m : undefined;
  });
  const byName = new Map(metrics.map((m) => [m.name, m]));
  const bytes = byName.get('podflow.flow.bytes');
  assert.ok(bytes?.sum, 'podflow.flow.bytes');
  assert.equal(bytes.unit, 'By');
  const expected = new Map<string, number>();
  for (const r of records) {
    if (r.type !== 1) continue;
    const key = `${r.source!.pod!.workload!.name}->${r.destination!.pod!.workload!.name}`;
    expected.set(key, (expected.get(key) ?? 0) + Number(r.traffic!.bytes));
  }
  const got = new Map<string, number>();
  for (const p of bytes.sum.dataPoints) {
    const a = attributesOf(p.attributes);
    got.set(`${a['source.k8s.workload.name']}->${a['destination.k8s.workload.name']}`, Number(p.asInt ?? p.asDouble));
  }
  assert.deepEqual(Object.fromEntries(got), Object.fromEntries(expected));

  const httpHist = byName.get('podflow.http.duration')?.histogram?.dataPoints ?? [];
  assert.equal(httpHist.length, 1);
  assert.deepEqual(attributesOf(httpHist[0].attributes), {
    'source.k8s.namespace.name': 'shop', 'source.k8s.workload.name': 'frontend',
    'destination.k8s.namespace.name': 'shop', 'destination.k8s.workload.name': 'backend',
    'network.transport': 'tcp', 'http.request.method': 'GET', 'http.response.status_code': 200,
  });
  assert.equal(Number(httpHist[0].count), 1);
  assert.equal(httpHist[0].sum, 0.325);
  const count = (name: string): number => {
    const m = byName.get(name);
    const points = m?.histogram?.dataPoints ?? m?.sum?.dataPoints ?? [];
    return points.reduce((n, p) => n + Number(m?.histogram ? p.count : (p.asInt ?? p.asDouble)), 0);
  };
  const ofType = (t: number) => records.filter((r) => r.type === t).length;
  assert.equal(count('podflow.tcp.rtt'), ofType(3));
  assert.equal(count('podflow.dns.duration'), ofType(8));
  assert.equal(count('podflow.tcp.failed_connections'), ofType(4));
  // TCP_CLOSE carries 2 retransmits in total, RETRANSMIT bursts 3 each.
  assert.equal(count('podflow.tcp.retransmits'), ofType(3) * 2 + ofType(6) * 3);
});

test('an unknown metric attribute in the allow-list is a clear error', async () => {
  const sink = sinkFor(`pfd-${run}-bad`, 'grpc', { metricAttributes: ['k8s.pod.ip'] });
  await assert.rejects(sink.start(), /unknown metric attribute "k8s\.pod\.ip"/);
});

test('a malformed endpoint is a clear error', () => {
  assert.throws(() => sinkFor('x', 'grpc', { endpoint: 'collector:4317' }), /endpoint "collector:4317" is not a URL|must start with http/);
});

test('the queue bound: a write that would take the unexported log records past maxQueueSize is rejected whole, the rest delivered', async () => {
  const node = `pfd-${run}-bound`;
  const sink = sinkFor(node, 'grpc', { maxQueueSize: 100, metrics: false });
  await sink.start();
  try {
    // Exports settle asynchronously: the second write finds the first 60 still in flight.
    await sink.write(knownRecords(node, 60, 6, 1));
    await assert.rejects(sink.write(knownRecords(node, 60, 6, 61)), /60 log records wait for the collector \(queue bound 100\); 60 records rejected/);
    assert.equal(sink.inFlight, 60);
    await sink.write(knownRecords(node, 40, 6, 121));
    await sink.flush();
    assert.equal(sink.inFlight, 0);
  } finally {
    await sink.stop();
  }
  assert.deepEqual(sink.losses(), []);
  const logs = await logsOf(node, 100);
  const seqs = new Set(logs.map((l) => Number(String(attributesOf(l.record.attributes)['podflow.record.id']).split('/')[2])));
  assert.equal(logs.length, 100);
  for (let s = 61; s <= 120; s++) assert.ok(!seqs.has(s), `rejected record ${s} was not sent`);
});

// bench/otlp.bench.ts proves zero loss from these counts; this is what makes them trustworthy.
test("the benchmark's lean collector (test/peers/otelcol start --bench) counts exactly the log records it received, over gRPC and HTTP", async () => {
  const lean = await startPeer('otelcol-bench');
  const node = `pfd-${run}-lean`;
  const before = await collectorLogCounts(lean.metrics);
  for (const [protocol, count] of [['grpc', 3000], ['http/protobuf', 1000]] as const) {
    const sink = sinkFor(node, protocol, {
      endpoint: protocol === 'grpc' ? `http://${lean['otlp-grpc']}` : lean['otlp-http'], metrics: false, maxExportBatchSize: 512,
    });
    await sink.start();
    try {
      await sink.write(knownRecords(node, count));
      await sink.flush();
    } finally {
      await sink.stop();
    }
    assert.equal(sink.exported, count);
  }
  const now = await collectorLogCounts(lean.metrics);
  assert.deepEqual({ accepted: now.accepted - before.accepted, refused: now.refused - before.refused }, { accepted: 4000, refused: 0 });
});

test('collector stopped: the sink keeps accepting, counts what it could not export, and resumes when the collector returns', async () => {
  const node = `pfd-${run}-outage`;
  const sink = sinkFor(node, 'grpc', { timeoutMs: 2_000, metrics: false });
  await sink.start();
  const outage = knownRecords(node, 100, 6, 101);
  const outageLoss = new Set(outage.filter((r) => r.type === RecordType.LOSS).map((r) => Number(r.id!.split('/')[2])));
  let seq = 201;
  try {
    await sink.write(knownRecords(node, 100, 6, 1));
    await sink.flush();
    await logsOf(node, 100);

    otelcol = await withPeerStopped('otelcol', async () => {
      await sink.write(outage);
      await sink.flush();
      // The LOSS records among them wait for the collector (test/e2e/otlp-outage.test.ts).
      assert.deepEqual(sink.losses(), [{ stage: 'sink:otlp', reason: 'export_failed', count: outage.length - outageLoss.size }]);
      assert.equal(sink.ready, false);
    });
    // gRPC reconnects with its own backoff: batches written before the channel
    // is back are counted too. Probe with small batches until one gets through.
    const deadline = Date.now() + 60_000;
    while (!sink.ready) {
      assert.ok(Date.now() < deadline, 'the sink did not resume within 60 s of the collector returning');
      await sink.write(knownRecords(node, 10, 6, seq));
      seq += 10;
      await sink.flush();
    }
    await sink.write(knownRecords(node, 100, 6, seq));
    await sink.flush();
    assert.equal(sink.ready, true);
  } finally {
    await sink.stop();
  }
  const written = seq + 100 - 1;
  const lost = sink.losses().reduce((n, l) => n + l.count, 0);
  const logs = await logsOf(node, written - lost);
  const seqs = new Set(logs.map((l) => Number(String(attributesOf(l.record.attributes)['podflow.record.id']).split('/')[2])));
  assert.equal(logs.length, written - lost, 'every record is either delivered or counted');
  for (let s = 1; s <= 100; s++) assert.ok(seqs.has(s), `record ${s} from before the outage`);
  for (let s = 101; s <= 200; s++) {
    if (outageLoss.has(s)) assert.ok(seqs.has(s), `LOSS record ${s} from the outage is delivered after it`);
    else assert.ok(!seqs.has(s), `record ${s} from the outage is counted, not delivered`);
  }
  for (let s = seq; s < seq + 100; s++) assert.ok(seqs.has(s), `record ${s} from after the collector returned`);
});

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  test(`start over ${protocol} with nothing listening rejects within the start-up bound, naming the endpoint and the cause`, async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    // otlp.timeout above start-up's 5 s bound: the HTTP transport's retries of the refused connection stop at the bound.
    const sink = sinkFor(`pfd-${run}-closed`, protocol, { endpoint, timeoutMs: 30_000 });
    const started = Date.now();
    await assert.rejects(sink.start(), (err: Error) => {
      const target = protocol === 'grpc' ? `${endpoint} (grpc, logs and metrics)` : `${endpoint}/v1/logs and ${endpoint}/v1/metrics (http/protobuf)`;
      assert.ok(err.message.startsWith(`otlp sink: cannot export to ${target}: `), err.message);
      assert.match(err.message, /ECONNREFUSED.*\(nothing listens there: is the collector running/);
      return true;
    });
    assert.ok(Date.now() - started < 6_000, `rejected after ${Date.now() - started} ms`);
    assert.equal(sink.ready, false);
    await assert.rejects(sink.write(knownRecords('x', 1)), /write\(\) before start\(\)/);
    await sink.stop();
  });
}

test('start over http/protobuf against a path the collector does not serve rejects with the 404 and the URL', async () => {
  const endpoint = `${otelcol['otlp-http']}/otlp`;
  const sink = sinkFor(`pfd-${run}-404`, 'http/protobuf', { endpoint, metrics: false });
  await assert.rejects(sink.start(), {
    message: `otlp sink: cannot export to ${endpoint}/v1/logs (http/protobuf): HTTP 404 Not Found (nothing serves this path: the endpoint is the base URL `
      + '(/v1/logs and /v1/metrics are appended), or the collector has no pipeline of this signal fed by the otlp receiver)',
  });
  assert.equal(sink.ready, false);
});

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  test(`collector stopped while nothing is written (${protocol}): ready turns false, and true again once it is back; delivery resumes`, async () => {
    const node = `pfd-${run}-idle-${protocol.replace('/', '-')}`;
    const sink = sinkFor(node, protocol, { timeoutMs: 2_000 });
    await sink.start();
    try {
      assert.equal(sink.ready, true);
      // The start-up requests wrote nothing to the collector's output.
      assert.deepEqual(logRecordsFor(await readCollectorOutput(otelcol.output, offset), node), []);
      otelcol = await withPeerStopped('otelcol', async () => {
        await waitFor('the sink not ready', async () => (sink.ready ? undefined : true), 30_000);
      });
      await waitFor('the sink ready again', async () => (sink.ready ? true : undefined), 30_000);
      await sink.write(knownRecords(node, 20));
      await sink.flush();
      assert.equal(sink.ready, true);
    } finally {
      await sink.stop();
    }
    assert.deepEqual(sink.losses(), []);
    assert.equal((await logsOf(node, 20)).length, 20);
  });
}
