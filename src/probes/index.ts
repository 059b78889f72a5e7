// createProbeManager: the capability probe (each probe's hooks tried in the
// order of its plan, the reason each skipped hook failed kept for `podflow
// probes`), the tick that drains maps and watches interfaces, and stop().
// dns and http share one svc object (original destinations) that it owns;
// flows, dns and http share the packet object (one TC program per interface
// and direction for the three), loaded with the ones requested.
import { fileURLToPath } from 'node:url';
import type { BpfMap } from 'libbpf-ts';
import { findCgroup2Root } from '../enrich/cgroup.js';
import type { LossCount } from '../pipeline/types.js';
import { dnsPlan, dnsSetup, type DnsOptions } from './dns/plan.js';
import { dropsPlan } from './drops/plan.js';
import { flowsPlan, flowsSetup, type FlowsOptions } from './flows/plan.js';
import { httpPlan, httpSetup, type HttpOptions } from './http/plan.js';
import { retransmitPlan } from './retransmit/plan.js';
import { RttProbe, rttPlan } from './rtt/plan.js';
import { MonotonicClock } from './shared/clock.js';
import type { ProbeContext } from './shared/context.js';
import { InterfaceIndex } from './shared/interfaces.js';
import { unmatchedInterfaces } from './shared/interface-attacher.js';
import { describeError as describe } from './shared/errors.js';
import { ensureTracefs } from './shared/mounts.js';
import { PacketObjects } from './shared/packet-object.js';
import type { AttachedProbe, ProbePlan } from './shared/probe.js';
import { OriginalDestinations, SVC_PROGRAMS, type OriginalDestinationMap } from './svc/original-destinations.js';
import { tcpPlan } from './tcp/plan.js';
import type { ProbeManager, ProbeName, ProbeOptions, ProbeStatus } from './types.js';

export type { ProbeManager, ProbeOptions, ProbeStatus, RttHistogram } from './types.js';

/** Where scripts/build puts the objects, relative to dist/src/probes/index.js. */
const DEFAULT_OBJECT_DIR = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
const CLOCK_REFRESH_MS = 60_000;
/** The probes attached per interface (TC or the socket filter), which `interfaces` selects for. */
const INTERFACE_PROBES: ReadonlySet<ProbeName> = new Set(['flows', 'dns', 'http']);
/** How the svc programs show in status() when they could not be attached. */
const SVC_HOOK = `svc (${SVC_PROGRAMS.join(', ')})`;

interface ProbeState {
  status: ProbeStatus;
  attached: AttachedProbe | null;
  /** What its interfaces last made its lastError (see checkInterfaces). */
  interfaceError?: string;
}

/**
 * Closes a probe (or the svc object) and returns its final loss totals: read after close where the
 * probe keeps them (those known only at stop, such as requests still waiting), else just before it
 * (its maps close with it). The probe detaches before this returns its promise, which resolves once
 * the records the probe read before are in the ingress.
 */
async function closeKeepingLosses(part: { losses(): LossCount[]; close(): void | Promise<void> }, errors: unknown[]): Promise<LossCount[]> {
  let totals: LossCount[] = [];
  try {
    totals = part.losses();
  } catch {
    // Unreadable: nothing newer than the last poll to add.
  }
  try {
    await part.close();
  } catch (err) {
    errors.push(err);
  }
  try {
    totals = part.losses();
  } catch {
    // Its maps are gone: the totals read before close stand.
  }
  return totals;
}

export function createProbeManager(opts: ProbeOptions): ProbeManager {
  const cgroupRoot = opts.cgroupRoot === undefined ? findCgroup2Root() : opts.cgroupRoot;
  const ctx: ProbeContext = {
    nodeName: opts.nodeName,
    clock: new MonotonicClock(),
    ingress: opts.ingress,
    interfaces: new InterfaceIndex(opts.interfaceDir),
    objectDir: opts.objectDir ?? DEFAULT_OBJECT_DIR,
    log: opts.log,
  };
  // dns and http reuse the svc object's map, opened by start() before they load; when it could not be
  // attached, records carry only what the packets themselves showed.
  let svc: OriginalDestinations | undefined;
  /** The tcp probe's per-socket map while it runs: the retransmit object reuses it (side and process). */
  let tcpSockets: BpfMap | undefined;
  const originalDestinations: OriginalDestinationMap = {
    get map() {
      return svc?.map;
    },
  };
  const flowsOpts: FlowsOptions = {
    interfaces: opts.interfaces, activeTimeoutMs: opts.flowActiveTimeoutMs, idleTimeoutMs: opts.flowIdleTimeoutMs, kernelMapBytes: opts.flowKernelMapBytes,
  };
  const dnsOpts: DnsOptions = { interfaces: opts.interfaces, ports: opts.dnsPorts ?? [53], timeoutMs: opts.dnsTimeoutMs ?? 5000 };
  const httpOpts: HttpOptions = { interfaces: opts.interfaces, timeoutMs: opts.httpTimeoutMs ?? 30_000 };
  const setups = [flowsSetup(flowsOpts), dnsSetup(dnsOpts), httpSetup(httpOpts)].filter((s) => opts.probes.includes(s.probe));
  const packet = new PacketObjects({ interfaces: opts.interfaces, setups, originalDestinations });
  const plans: Record<Exclude<ProbeName, 'process'>, ProbePlan> = {
    flows: flowsPlan({ ...flowsOpts, packet }),
    tcp: tcpPlan,
    retransmit: retransmitPlan({ get map() { return tcpSockets; } }),
    drops: dropsPlan({ reasons: opts.dropReasons }),
    rtt: rttPlan({ cgroupRoot }),
    dns: dnsPlan({ ...dnsOpts, packet }),
    http: httpPlan({ ...httpOpts, packet }),
  };
  const states = new Map<ProbeName, ProbeState>();
  /** The probes' loss totals when they stopped: the pipeline's last LOSS records are made after that. */
  let stoppedLosses: LossCount[] = [];
  let timer: NodeJS.Timeout | undefined;
  let lastClockRefresh = 0;
  /** Why the svc programs are not running, when dns or http wanted them. */
  let svcSkipped: string | undefined;

  const openOriginalDestinations = (): void => {
    try {
      if (!cgroupRoot) throw new Error('no cgroup v2 mount found in /proc/self/mounts (the svc programs attach to the cgroup v2 root)');
      svc = new OriginalDestinations(ctx.objectDir, cgroupRoot);
    } catch (err) {
      svcSkipped = `service translation from the sockets' own destinations is off: ${describe(err)}`;
      opts.log?.warn({ probes: ['dns', 'http'], hook: SVC_HOOK }, svcSkipped);
    }
  };

  const runPlan = (plan: ProbePlan): ProbeState => {
    const status: ProbeStatus = { probe: plan.probe, hook: null, attached: false, skipped: [], eventsSeen: 0, eventsDroppedInKernel: 0 };
    for (const c of plan.candidates) {
      try {
        // tracefs is a requirement of the tracepoint hooks only: when it cannot be mounted, that is their skip reason.
        if (c.hook.startsWith('tracepoint/')) ensureTracefs();
        const attached = c.attach(ctx);
        status.hook = attached.hook;
        status.attached = true;
        return { status, attached };
      } catch (err) {
        status.skipped.push({ hook: c.hook, reason: describe(err) });
      }
    }
    return { status, attached: null };
  };

  // The interface probes' trouble with their interfaces, their lastError while it lasts: a name in
  // `interfaces` that no interface has (a typo looks like a quiet, healthy node otherwise), and
  // interfaces that appeared but could not be attached (one gone again before the attach: a short-lived
  // veth). Each is logged once, naming the probes it concerns (flows, dns and http share one attacher).
  let unmatched: string | undefined;
  /** The attach failures logged, while they last (one that comes again later is logged again). */
  let logged = new Set<string>();
  const checkInterfaces = (): void => {
    const now = opts.interfaces.length > 0 ? unmatchedInterfaces(opts.interfaces, ctx.interfaces.list()) : undefined;
    const probes: ProbeName[] = [];
    const current = new Set<string>();
    const fresh = new Map<string, ProbeName[]>();
    for (const s of states.values()) {
      if (!s.attached || !INTERFACE_PROBES.has(s.status.probe)) continue;
      probes.push(s.status.probe);
      const failures = s.attached.interfaceFailures?.() ?? [];
      for (const failure of failures) {
        current.add(failure);
        if (logged.has(failure)) continue;
        const concerned = fresh.get(failure);
        if (concerned) concerned.push(s.status.probe);
        else fresh.set(failure, [s.status.probe]);
      }
      const error = failures.length > 0 ? failures.join('; ') : now;
      // A failure of its own (periodic work) stays.
      if (s.status.lastError === undefined || s.status.lastError === s.interfaceError) {
        if (error === undefined) delete s.status.lastError;
        else s.status.lastError = error;
      }
      s.interfaceError = error;
    }
    for (const [failure, concerned] of fresh) opts.log?.warn({ probes: concerned }, failure);
    logged = current;
    if (now !== undefined && now !== unmatched && probes.length > 0) opts.log?.warn({ probes }, now);
    unmatched = now;
  };

  // Runs from a timer: an error (a map operation failing) is kept for status(), never thrown.
  const tick = (): void => {
    let changes: ReturnType<InterfaceIndex['poll']> = { added: [], removed: [] };
    try {
      changes = ctx.interfaces.poll();
    } catch {
      // /sys/class/net unreadable for a moment: the next tick looks again.
    }
    const changed = changes.added.length > 0 || changes.removed.length > 0;
    const now = MonotonicClock.nowNs();
    for (const s of states.values()) {
      if (!s.attached) continue;
      try {
        if (changed) s.attached.interfacesChanged?.(changes.added, changes.removed);
        s.attached.tick?.(now);
      } catch (err) {
        const message = describe(err);
        // Logged when it changes: a drain failing every tick would flood the log.
        if (message !== s.status.lastError) opts.log?.warn({ probe: s.status.probe }, `periodic work failed: ${message}`);
        s.status.lastError = message;
      }
    }
    if (changed) checkInterfaces();
    if (Date.now() - lastClockRefresh >= CLOCK_REFRESH_MS) {
      ctx.clock.refresh();
      lastClockRefresh = Date.now();
    }
  };

  let starting: Promise<void> | undefined;
  const startProbes = async (): Promise<void> => {
    if (states.size > 0) throw new Error('probe manager already started; stop() it first');
    ctx.interfaces.poll();
    lastClockRefresh = Date.now();
    if (opts.probes.includes('dns') || opts.probes.includes('http')) openOriginalDestinations();
    // The packet object's verification takes seconds: off the JS thread, before the (synchronous) plans use it.
    if (setups.length > 0) await packet.preload(ctx.objectDir, 'tc');
    // tcp runs first (the retransmit object reuses its per-socket map); states keep the configured order.
    const started = new Map<ProbeName, ProbeState>();
    for (const probe of [...opts.probes].sort((a, b) => Number(b === 'tcp') - Number(a === 'tcp'))) {
      if (probe === 'process') continue;
      const state = runPlan(plans[probe]);
      if ((probe === 'dns' || probe === 'http') && svcSkipped) state.status.skipped.push({ hook: SVC_HOOK, reason: svcSkipped });
      if (probe === 'tcp') tcpSockets = state.attached?.sockets;
      started.set(probe, state);
    }
    packet.settle();
    for (const probe of opts.probes) {
      const state = started.get(probe);
      if (state) states.set(probe, state);
    }
    if (opts.probes.includes('process')) {
      // Process context rides on the tcp probe's records (connect and the accepted socket's cgroup).
      const tcp = states.get('tcp')?.status;
      states.set('process', {
        status: {
          probe: 'process',
          hook: tcp?.attached ? `${tcp.hook} (tcp records)` : null,
          attached: tcp?.attached ?? false,
          skipped: tcp?.attached ? [] : [{ hook: 'tcp records', reason: 'the tcp probe is not running' }],
          eventsSeen: 0,
          eventsDroppedInKernel: 0,
        },
        attached: null,
      });
    }
    checkInterfaces();
    const interval = Math.max(100, Math.min(1000, opts.interfacePollMs ?? 1000, opts.flowIdleTimeoutMs / 2));
    timer = setInterval(tick, interval);
    timer.unref();
  };

  const stopProbes = async (): Promise<void> => {
    if (timer) clearInterval(timer);
    timer = undefined;
    const errors: unknown[] = [];
    // Every probe detaches at once; then their last records (ring-buffer batches) come in.
    const closing: Promise<LossCount[]>[] = [];
    for (const s of states.values()) {
      if (s.attached) closing.push(closeKeepingLosses(s.attached, errors));
      s.attached = null;
    }
    const final = (await Promise.all(closing)).flat();
    states.clear();
    tcpSockets = undefined;
    unmatched = undefined;
    logged = new Set();
    // After the probes: their objects reuse svc's map.
    if (svc) final.push(...(await closeKeepingLosses(svc, errors)));
    svc = undefined;
    svcSkipped = undefined;
    stoppedLosses = final;
    if (errors.length > 0) throw new AggregateError(errors, `stopping probes: ${errors.map(describe).join('; ')}`);
  };

  return {
    start() {
      starting = startProbes();
      return starting;
    },

    async stop() {
      // A start in progress (its object loading off the JS thread) ends first: what it attaches is stopped below.
      await starting?.catch(() => {});
      starting = undefined;
      return stopProbes();
    },

    status() {
      const kernelDropped = (p: AttachedProbe) => p.losses().filter((l) => l.stage === 'kernel').reduce((n, l) => n + l.count, 0);
      return [...states.values()].map(({ status, attached }) => {
        if (!attached) {
          // process has no hook of its own: its events are the tcp probe's, each carrying the process.
          const tcp = status.probe === 'process' && status.attached ? states.get('tcp')?.attached : null;
          if (tcp) return { ...status, skipped: [...status.skipped], eventsSeen: tcp.eventsSeen(), eventsDroppedInKernel: kernelDropped(tcp) };
          return { ...status, skipped: [...status.skipped] };
        }
        const filtered = attached.filtered?.();
        return {
          ...status,
          ...(filtered ? { eventsFiltered: filtered } : {}),
          hook: attached.hook,
          skipped: [...status.skipped],
          eventsSeen: attached.eventsSeen(),
          eventsDroppedInKernel: kernelDropped(attached),
        };
      });
    },

    losses(): LossCount[] {
      if (states.size === 0) return stoppedLosses;
      return [...[...states.values()].flatMap((s) => s.attached?.losses() ?? []), ...(svc?.losses() ?? [])];
    },

    rttHistogram() {
      const rtt = states.get('rtt')?.attached;
      return rtt instanceof RttProbe ? rtt.histogram() : undefined;
    },
  };
}
