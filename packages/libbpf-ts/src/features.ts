// Feature probes: what this kernel accepts, found by asking it. Program, map
// and helper support come from libbpf's probe API (it loads tiny programs);
// attach points are tried for real with the package's own probe object
// (build/features.bpf.o) and detached at once. Results are cached.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotSupportedError, errnoCode, nativeErrno, nativeReason } from './errors.js';
import { MapType, ProgType, type MapTypeName, type ProgTypeName } from './constants.js';
import { quietly } from './log.js';
import { native } from './native.js';
import { BpfObject } from './object.js';
import type { Link } from './link.js';

export interface FeatureResult {
  supported: boolean;
  /** Why not (or what was checked), e.g. 'attach failed: ENOENT (kernel has no kprobe PMU?)'. */
  reason: string;
  /** Symbolic errno of the failure, when there was one. */
  code?: string;
}

/** IDs of commonly probed helpers (enum bpf_func_id); any other ID can be passed as a number. */
export const Helper = {
  map_lookup_elem: 1, ktime_get_ns: 5, trace_printk: 6, get_current_pid_tgid: 14, skb_load_bytes: 26,
  perf_event_output: 25, get_socket_cookie: 46, get_current_cgroup_id: 80, sk_storage_get: 107,
  probe_read_kernel: 113, ktime_get_boot_ns: 125, ringbuf_output: 130, ringbuf_reserve: 131,
  ringbuf_submit: 132, skb_cgroup_id: 79, loop: 181, ktime_get_tai_ns: 208,
} as const;
export type HelperName = keyof typeof Helper;

const cache = new Map<string, FeatureResult>();

function cached(key: string, probe: () => FeatureResult): FeatureResult {
  let r = cache.get(key);
  if (!r) {
    r = quietly(probe);
    cache.set(key, r);
  }
  return r;
}

function libbpfProbe(what: string, call: () => number): FeatureResult {
  try {
    const r = call();
    if (r === 1) return { supported: true, reason: `${what}: accepted by the kernel` };
    return { supported: false, reason: `${what}: rejected by the kernel` };
  } catch (err) {
    return { supported: false, reason: `${what}: probe failed: ${nativeReason(err)}`, code: errnoCode(nativeErrno(err)) };
  }
}

function probeObjectPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const root of [join(here, '..', '..'), join(here, '..')]) {
    const p = join(root, 'build', 'features.bpf.o');
    if (existsSync(p)) return p;
  }
  throw new Error(`libbpf-ts: build/features.bpf.o not found near ${here}; run 'make' in the libbpf-ts package`);
}

/** Loads only `program` from the probe object, attaches it with `attach`, detaches, closes. */
function tryAttach(hook: string, program: string, attach: (obj: BpfObject) => Link): FeatureResult {
  let obj: BpfObject | undefined;
  try {
    obj = BpfObject.open(probeObjectPath());
    for (const p of obj.programs) p.setAutoload(p.name === program);
    try {
      obj.load();
    } catch (err) {
      return { supported: false, reason: `${hook}: the kernel refused to load a ${hook} program: ${errnoCode(nativeErrno(err))}`, code: errnoCode(nativeErrno(err)) };
    }
    const link = attach(obj);
    link.destroy();
    return { supported: true, reason: `${hook}: a test program attached to ${link.target}` };
  } catch (err) {
    const code = errnoCode(nativeErrno(err));
    return { supported: false, reason: `${hook}: ${err instanceof Error ? err.message : String(err)}`, code };
  } finally {
    obj?.close();
  }
}

export const features = {
  /** Whether the kernel accepts programs of this type (libbpf_probe_bpf_prog_type). */
  progType(type: ProgTypeName): FeatureResult {
    return cached(`prog:${type}`, () => libbpfProbe(`program type ${type}`, () => native().probeProgType(ProgType[type])));
  },

  /** Whether the kernel can create maps of this type (libbpf_probe_bpf_map_type). */
  mapType(type: MapTypeName): FeatureResult {
    return cached(`map:${type}`, () => libbpfProbe(`map type ${type}`, () => native().probeMapType(MapType[type])));
  },

  /** Whether programs of progType may call the helper (libbpf_probe_bpf_helper). */
  helper(progType: ProgTypeName, helper: HelperName | number): FeatureResult {
    const id = typeof helper === 'number' ? helper : Helper[helper];
    return cached(`helper:${progType}:${id}`, () => libbpfProbe(`helper ${String(helper)} from ${progType}`, () => native().probeHelper(ProgType[progType], id)));
  },

  /** A tracepoint program attaches to sched/sched_switch (needs tracefs mounted). */
  canAttachTracepoint(): FeatureResult {
    return cached('attach:tracepoint', () => tryAttach('tracepoint', 'probe_tracepoint', (o) => o.program('probe_tracepoint').attachTracepoint('sched', 'sched_switch')));
  },

  canAttachRawTracepoint(): FeatureResult {
    return cached('attach:raw_tp', () => tryAttach('raw_tracepoint', 'probe_raw_tp', (o) => o.program('probe_raw_tp').attachRawTracepoint('sched_switch')));
  },

  /** BTF-typed raw tracepoints (tp_btf): need kernel BTF. */
  canAttachTpBtf(): FeatureResult {
    return cached('attach:tp_btf', () => tryAttach('tp_btf', 'probe_tp_btf', (o) => o.program('probe_tp_btf').attach()));
  },

  /** kprobes: need CONFIG_KPROBES (the kprobe PMU); fails with ENOENT where absent. */
  canAttachKprobe(): FeatureResult {
    return cached('attach:kprobe', () => tryAttach('kprobe', 'probe_kprobe', (o) => o.program('probe_kprobe').attachKprobe('schedule')));
  },

  /** fentry/fexit (BPF trampolines). */
  canAttachFentry(): FeatureResult {
    return cached('attach:fentry', () => tryAttach('fentry', 'probe_fentry', (o) => o.program('probe_fentry').attach()));
  },

  /** uprobes (CONFIG_UPROBE_EVENTS), tried on a function of the running node binary. */
  canAttachUprobe(): FeatureResult {
    return cached('attach:uprobe', () => tryAttach('uprobe', 'probe_uprobe', (o) => o.program('probe_uprobe').attachUprobe(process.execPath, { symbol: 'uv_version', pid: process.pid })));
  },

  /** TCX links (Linux >= 6.6), tried on the loopback interface of this network namespace. */
  canAttachTcx(): FeatureResult {
    return cached('attach:tcx', () => tryAttach('tcx', 'probe_tc', (o) => {
      const link = o.program('probe_tc').attachTc('lo', 'ingress', { preferTcx: true });
      if (link.hook === 'tcx') return link;
      link.destroy();
      throw new NotSupportedError('tcx', 'the kernel refused BPF_LINK_CREATE with BPF_TCX_INGRESS (classic tc works)');
    }));
  },

  /** Every probe above, keyed by name: what `podflow probes` style tools print. */
  summary(): Record<string, FeatureResult> {
    return {
      'map:RINGBUF': features.mapType('RINGBUF'),
      'prog:SCHED_CLS': features.progType('SCHED_CLS'),
      'prog:CGROUP_SKB': features.progType('CGROUP_SKB'),
      'prog:SOCK_OPS': features.progType('SOCK_OPS'),
      'helper:ringbuf_reserve': features.helper('TRACEPOINT', 'ringbuf_reserve'),
      tracepoint: features.canAttachTracepoint(),
      raw_tracepoint: features.canAttachRawTracepoint(),
      tp_btf: features.canAttachTpBtf(),
      kprobe: features.canAttachKprobe(),
      fentry: features.canAttachFentry(),
      uprobe: features.canAttachUprobe(),
      tcx: features.canAttachTcx(),
    };
  },

  /** Forgets cached results (e.g. after mounting tracefs). */
  reset(): void {
    cache.clear();
  },
};
