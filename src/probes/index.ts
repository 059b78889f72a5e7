// createProbeManager: the capability probe (each probe's hooks tried in the
// order of its plan, the reason each skipped hook failed kept for `podflow
// probes`), the tick that drains maps and watches interfaces, and stop().
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LossCount } from '../pipeline/types.js';
import { dropsPlan } from './drops/plan.js';
import { flowsPlan } from './flows/plan.js';
import { retransmitPlan } from './retransmit/plan.js';
import { RttProbe, rttPlan } from './rtt/plan.js';
import { CgroupResolver, findCgroup2Root } from './shared/cgroups.js';
import { MonotonicClock } from './shared/clock.js';
import type { ProbeContext } from './shared/context.js';
import { InterfaceIndex } from './shared/interfaces.js';
import { ensureKernelFilesystems } from './shared/mounts.js';
import type { AttachedProbe, ProbePlan } from './shared/probe.js';
import { tcpPlan } from './tcp/plan.js';
import type { ProbeManager, ProbeName, ProbeOptions, ProbeStatus } from './types.js';

export type { ProbeManager, ProbeOptions, ProbeStatus, RttHistogram } from './types.js';
export { conversationId, conversationIdOf } from './shared/conversation.js';

/** Where scripts/build puts the objects, relative to dist/src/probes/index.js. */
const DEFAULT_OBJECT_DIR = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
const CLOCK_REFRESH_MS = 60_000;

interface ProbeState {
  status: ProbeStatus;
  attached: AttachedProbe | null;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

export function createProbeManager(opts: ProbeOptions): ProbeManager {
  const cgroupRoot = opts.cgroupRoot ?? findCgroup2Root(readFileSync('/proc/self/mounts', 'utf8'));
  const ctx: ProbeContext = {
    nodeName: opts.nodeName,
    clock: new MonotonicClock(),
    ingress: opts.ingress,
    interfaces: new InterfaceIndex(),
    cgroups: new CgroupResolver(cgroupRoot),
    objectDir: opts.objectDir ?? DEFAULT_OBJECT_DIR,
  };
  const plans: Record<Exclude<ProbeName, 'dns' | 'http' | 'process'>, ProbePlan> = {
    flows: flowsPlan({ interfaces: opts.interfaces, activeTimeoutMs: opts.flowActiveTimeoutMs, idleTimeoutMs: opts.flowIdleTimeoutMs }),
    tcp: tcpPlan,
    retransmit: retransmitPlan,
    drops: dropsPlan({ reportUnspecified: opts.reportUnspecifiedDrops ?? false }),
    rtt: rttPlan({ cgroupRoot }),
  };
  const states = new Map<ProbeName, ProbeState>();
  let timer: NodeJS.Timeout | undefined;
  let lastClockRefresh = 0;

  const runPlan = (plan: ProbePlan): ProbeState => {
    const status: ProbeStatus = { probe: plan.probe, hook: null, attached: false, skipped: [], eventsSeen: 0, eventsDroppedInKernel: 0 };
    for (const c of plan.candidates) {
      try {
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

  // Runs from a timer: an error (a map operation failing) is kept for status(), never thrown.
  const tick = (): void => {
    let changes: ReturnType<InterfaceIndex['poll']> = { added: [], removed: [] };
    try {
      changes = ctx.interfaces.poll();
    } catch {
      // /sys/class/net unreadable for a moment: the next tick looks again.
    }
    const now = MonotonicClock.nowNs();
    for (const s of states.values()) {
      if (!s.attached) continue;
      try {
        if (changes.added.length || changes.removed.length) s.attached.interfacesChanged?.(changes.added, changes.removed);
        s.attached.tick?.(now);
      } catch (err) {
        s.status.lastError = describe(err);
      }
    }
    if (Date.now() - lastClockRefresh >= CLOCK_REFRESH_MS) {
      ctx.clock.refresh();
      lastClockRefresh = Date.now();
    }
  };

  return {
    async start() {
      if (states.size > 0) throw new Error('probe manager already started; stop() it first');
      ensureKernelFilesystems();
      ctx.interfaces.poll();
      lastClockRefresh = Date.now();
      for (const probe of opts.probes) {
        if (probe === 'process') continue;
        const plan = probe in plans ? plans[probe as keyof typeof plans] : opts.extraPlans?.find((p) => p.probe === probe);
        states.set(probe, plan ? runPlan(plan) : runPlan({ probe, candidates: [] }));
        if (!plan) states.get(probe)?.status.skipped.push({ hook: '-', reason: `no attach plan for ${probe}: pass it in extraPlans` });
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
      const interval = Math.max(100, Math.min(1000, opts.interfacePollMs ?? 1000, opts.flowIdleTimeoutMs / 2));
      timer = setInterval(tick, interval);
      timer.unref();
    },

    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      const errors: unknown[] = [];
      for (const s of states.values()) {
        try {
          s.attached?.close();
        } catch (err) {
          errors.push(err);
        }
        s.attached = null;
      }
      states.clear();
      if (errors.length > 0) throw new AggregateError(errors, `stopping probes: ${errors.map(describe).join('; ')}`);
    },

    status() {
      return [...states.values()].map(({ status, attached }) => {
        if (!attached) return { ...status, skipped: [...status.skipped] };
        const kernel = attached.losses().filter((l) => l.stage === 'kernel');
        return {
          ...status,
          hook: attached.hook,
          skipped: [...status.skipped],
          eventsSeen: attached.eventsSeen(),
          eventsDroppedInKernel: kernel.reduce((n, l) => n + l.count, 0),
        };
      });
    },

    losses(): LossCount[] {
      return [...states.values()].flatMap((s) => s.attached?.losses() ?? []);
    },

    rttHistogram() {
      const rtt = states.get('rtt')?.attached;
      return rtt instanceof RttProbe ? rtt.histogram() : undefined;
    },
  };
}
