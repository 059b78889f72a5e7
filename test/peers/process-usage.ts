// CPU and peak RSS of this process while a piece of work runs, for the sink
// benchmarks against the real peers.
export interface Usage {
  seconds: number;
  /** Process CPU time over wall time, in percent of one core. */
  cpuPercent: number;
  /** Process CPU seconds spent (user + system). */
  cpuSeconds: number;
  peakRssMb: number;
}

export async function measure(work: () => Promise<void>): Promise<Usage> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 100);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  peak = Math.max(peak, process.memoryUsage().rss);
  return {
    seconds: Math.round(seconds * 1000) / 1000,
    cpuPercent: Math.round(((used.user + used.system) / 1e6 / seconds) * 100),
    cpuSeconds: Math.round((used.user + used.system) / 1e3) / 1e3,
    peakRssMb: Math.round(peak / 1024 / 1024),
  };
}
