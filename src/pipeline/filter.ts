// Record filters with `hubble observe` semantics: inside one filter, the
// values of one field are ORed and different fields are ANDed; a record passes
// when it matches any allow filter (or there are none) and no deny filter.
// Plain fields (pod, ip, ...) match either side; from*/to* match one side.
import { BlockList, isIP } from 'node:net';
import { podflow } from '../proto/gen/flow.js';
import type { FlowRecord, RecordTypeName } from './types.js';

const T = podflow.v1.RecordType;

export const VERDICTS = ['FORWARDED', 'DROPPED'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** The endpoint fields, each in an either-side, a from- and a to- form. */
const ENDPOINT_FIELDS = ['namespace', 'pod', 'workload', 'label', 'ip', 'port', 'service'] as const;
type EndpointField = (typeof ENDPOINT_FIELDS)[number];

/** One filter. Every present field must match; any value of a field may match. */
export interface FlowFilter {
  /** Namespace of either endpoint's pod or service. */
  namespace?: string[];
  fromNamespace?: string[];
  toNamespace?: string[];
  /** "[namespace/]name-prefix", like hubble's --pod. */
  pod?: string[];
  fromPod?: string[];
  toPod?: string[];
  /** "[namespace/]name" or "[namespace/]kind/name" of the owning workload. */
  workload?: string[];
  fromWorkload?: string[];
  toWorkload?: string[];
  /** Label selector: comma-separated terms "k=v", "k!=v", "k" (exists), "!k" (absent), all required. */
  label?: string[];
  fromLabel?: string[];
  toLabel?: string[];
  /** An IP address or CIDR (IPv4 or IPv6). */
  ip?: string[];
  fromIp?: string[];
  toIp?: string[];
  port?: number[];
  fromPort?: number[];
  toPort?: number[];
  /** "[namespace/]name" of a Service. */
  service?: string[];
  fromService?: string[];
  toService?: string[];
  /** tcp, udp, icmp, icmpv6, sctp (transport) or http, dns (record type). */
  protocol?: string[];
  /** Record type names, e.g. FLOW, HTTP. */
  type?: RecordTypeName[];
  /** DROPPED for DROP records, FORWARDED for every other record. */
  verdict?: Verdict[];
  node?: string[];
}

export interface FilterSet {
  allow: FlowFilter[];
  deny: FlowFilter[];
}

/** Bad filter input: names the field, the value and what was expected. */
export class FilterError extends Error {
  override name = 'FilterError';
}

type Endpoint = podflow.v1.IEndpoint | null | undefined;
type EndpointMatch = (e: Endpoint) => boolean;
type RecordMatch = (r: FlowRecord) => boolean;

function splitNamespaced(value: string): { namespace?: string; rest: string } {
  const slash = value.indexOf('/');
  return slash < 0 ? { rest: value } : { namespace: value.slice(0, slash), rest: value.slice(slash + 1) };
}

function labelMatcher(selector: string, where: string): EndpointMatch {
  const terms = selector.split(',').map((t) => t.trim()).filter(Boolean);
  if (terms.length === 0) throw new FilterError(`${where}: empty label selector (expected e.g. "app=frontend" or "app,tier!=db")`);
  const checks = terms.map((term): ((labels: Record<string, string>) => boolean) => {
    const ne = term.indexOf('!=');
    if (ne > 0) {
      const k = term.slice(0, ne), v = term.slice(ne + 2);
      return (l) => l[k] !== v;
    }
    const eq = term.indexOf('=');
    if (eq > 0) {
      const k = term.slice(0, eq), v = term.slice(eq + 1).replace(/^=/, '');
      return (l) => l[k] === v;
    }
    if (term.startsWith('!') && term.length > 1) {
      const k = term.slice(1);
      return (l) => !(k in l);
    }
    if (/[=!]/.test(term)) throw new FilterError(`${where}: bad label selector term "${term}" (expected "k=v", "k!=v", "k" or "!k")`);
    return (l) => term in l;
  });
  return (e) => {
    const labels = e?.pod?.labels ?? {};
    for (const check of checks) if (!check(labels)) return false;
    return true;
  };
}

function endpointMatcher(field: EndpointField, values: readonly (string | number)[], where: string): EndpointMatch {
  switch (field) {
    case 'namespace': {
      const set = new Set(values.map(String));
      return (e) => set.has(e?.pod?.namespace ?? '') || set.has(e?.service?.namespace ?? '');
    }
    case 'pod': {
      const specs = values.map((v) => splitNamespaced(String(v)));
      return (e) => {
        const pod = e?.pod;
        if (!pod?.name) return false;
        return specs.some((s) => (s.namespace === undefined || s.namespace === pod.namespace) && pod.name!.startsWith(s.rest));
      };
    }
    case 'workload': {
      const specs = values.map((v) => {
        const parts = String(v).split('/');
        if (parts.length > 3 || parts.some((p) => !p)) throw new FilterError(`${where}: "${v}" is not a workload (expected "[namespace/][kind/]name")`);
        const name = parts[parts.length - 1];
        const kind = parts.length === 3 ? parts[1] : undefined;
        const namespace = parts.length >= 2 ? parts[0] : undefined;
        return { namespace, kind, name };
      });
      return (e) => {
        const w = e?.pod?.workload;
        if (!w?.name) return false;
        return specs.some((s) =>
          s.name === w.name && (s.kind === undefined || s.kind.toLowerCase() === (w.kind ?? '').toLowerCase()) && (s.namespace === undefined || s.namespace === e?.pod?.namespace));
      };
    }
    case 'service': {
      const specs = values.map((v) => splitNamespaced(String(v)));
      return (e) => {
        const svc = e?.service;
        if (!svc?.name) return false;
        return specs.some((s) => s.rest === svc.name && (s.namespace === undefined || s.namespace === svc.namespace));
      };
    }
    case 'label': {
      const matchers = values.map((v) => labelMatcher(String(v), where));
      return (e) => matchers.some((m) => m(e));
    }
    case 'ip': {
      const list = new BlockList();
      for (const v of values) {
        const text = String(v);
        const [addr, bits, extra] = text.split('/');
        const family = isIP(addr);
        const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
        if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32) || bits === '') {
          throw new FilterError(`${where}: "${text}" is not an IP address or CIDR (expected e.g. 10.1.2.3, 10.0.0.0/8 or fd00::/64)`);
        }
        list.addSubnet(addr, prefix, family === 6 ? 'ipv6' : 'ipv4');
      }
      return (e) => {
        const ip = e?.ip;
        if (!ip) return false;
        const family = isIP(ip);
        return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
      };
    }
    case 'port': {
      const set = new Set<number>();
      for (const v of values) {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535 || String(v).trim() === '') throw new FilterError(`${where}: "${v}" is not a port (expected an integer 0-65535)`);
        set.add(n);
      }
      return (e) => set.has(e?.port ?? 0);
    }
  }
}

const TRANSPORTS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132 };
const L7: Record<string, number> = { http: T.HTTP, dns: T.DNS };

function recordMatcher(key: string, values: readonly (string | number)[], where: string): RecordMatch {
  for (const field of ENDPOINT_FIELDS) {
    const cap = field[0].toUpperCase() + field.slice(1);
    if (key === field) {
      const m = endpointMatcher(field, values, where);
      return (r) => m(r.source) || m(r.destination);
    }
    if (key === `from${cap}`) {
      const m = endpointMatcher(field, values, where);
      return (r) => m(r.source);
    }
    if (key === `to${cap}`) {
      const m = endpointMatcher(field, values, where);
      return (r) => m(r.destination);
    }
  }
  switch (key) {
    case 'protocol': {
      const transports = new Set<number>(), types = new Set<number>();
      for (const v of values) {
        const p = String(v).toLowerCase();
        if (p in TRANSPORTS) transports.add(TRANSPORTS[p]);
        else if (p in L7) types.add(L7[p]);
        else throw new FilterError(`${where}: unknown protocol "${v}" (expected one of ${[...Object.keys(TRANSPORTS), ...Object.keys(L7)].join(', ')})`);
      }
      return (r) => transports.has(r.transport?.protocol ?? 0) || types.has(r.type ?? 0);
    }
    case 'type': {
      const set = new Set<number>();
      for (const v of values) {
        const name = String(v).toUpperCase();
        const n = (T as unknown as Record<string, number>)[name];
        if (n === undefined || n === 0) throw new FilterError(`${where}: unknown record type "${v}" (expected one of ${recordTypeNames().join(', ')})`);
        set.add(n);
      }
      return (r) => set.has(r.type ?? 0);
    }
    case 'verdict': {
      const set = new Set<string>();
      for (const v of values) {
        const name = String(v).toUpperCase();
        if (!(VERDICTS as readonly string[]).includes(name)) throw new FilterError(`${where}: unknown verdict "${v}" (expected ${VERDICTS.join(' or ')})`);
        set.add(name);
      }
      return (r) => set.has(r.type === T.DROP ? 'DROPPED' : 'FORWARDED');
    }
    case 'node': {
      const set = new Set(values.map(String));
      return (r) => set.has(r.nodeName ?? '');
    }
    default:
      throw new FilterError(`${where}: unknown filter field (expected one of ${FILTER_FIELDS.join(', ')})`);
  }
}

export function recordTypeNames(): RecordTypeName[] {
  return Object.keys(T).filter((k) => k !== 'RECORD_TYPE_UNSPECIFIED' && Number.isNaN(Number(k))) as RecordTypeName[];
}

/** Every key of FlowFilter. */
export const FILTER_FIELDS: readonly string[] = [
  ...ENDPOINT_FIELDS.flatMap((f) => [f, `from${f[0].toUpperCase()}${f.slice(1)}`, `to${f[0].toUpperCase()}${f.slice(1)}`]),
  'protocol', 'type', 'verdict', 'node',
];

/** Compiles one filter into a predicate; throws FilterError on bad values. `where` prefixes messages (e.g. "filters.allow[0]"). */
export function compileFilter(filter: FlowFilter, where = 'filter'): RecordMatch {
  const checks: RecordMatch[] = [];
  for (const [key, raw] of Object.entries(filter)) {
    if (raw === undefined) continue;
    const values = Array.isArray(raw) ? (raw as (string | number)[]) : [raw as string | number];
    if (values.length === 0) continue;
    checks.push(recordMatcher(key, values, `${where}.${key}`));
  }
  return (r) => {
    for (const check of checks) if (!check(r)) return false;
    return true;
  };
}

/** The allow/deny decision of a filter set; LOSS records always pass (they account for the stream itself). */
export function compileFilterSet(set: FilterSet, where = 'filters'): RecordMatch {
  const allow = set.allow.map((f, i) => compileFilter(f, `${where}.allow[${i}]`));
  const deny = set.deny.map((f, i) => compileFilter(f, `${where}.deny[${i}]`));
  return (r) => {
    if (r.type === T.LOSS) return true;
    if (allow.length > 0 && !allow.some((m) => m(r))) return false;
    for (const m of deny) if (m(r)) return false;
    return true;
  };
}

/** A filter flag as given on the command line, e.g. { flag: "from-pod", value: "default/web", negate: true } for `--not --from-pod default/web`. */
export interface FilterFlag {
  flag: string;
  value: string;
  negate?: boolean;
}

/** The FlowFilter keys whose values are numbers. */
const PORT_FIELDS = new Set(['port', 'fromPort', 'toPort']);

/** kebab-case flag name -> FlowFilter key, e.g. "from-ip" -> "fromIp". */
export function filterFieldOfFlag(flag: string): string | undefined {
  const key = flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const alias: Record<string, string> = { label: 'label', labels: 'label', fromLabels: 'fromLabel', toLabels: 'toLabel', protocol: 'protocol', proto: 'protocol', type: 'type' };
  const field = alias[key] ?? key;
  return FILTER_FIELDS.includes(field) ? field : undefined;
}

/**
 * Builds a filter set from `hubble observe`-style flags: all plain flags form
 * one allow filter, all negated flags one deny filter. Repeating a flag ORs
 * its values; different flags AND. Throws FilterError on unknown flags and bad values.
 */
export function filterSetFromFlags(flags: readonly FilterFlag[]): FilterSet {
  const allow: Record<string, (string | number)[]> = {};
  const deny: Record<string, (string | number)[]> = {};
  for (const { flag, value, negate } of flags) {
    const field = filterFieldOfFlag(flag);
    if (!field) throw new FilterError(`--${flag.replace(/^--/, '')}: unknown filter flag (expected one of ${FILTER_FIELDS.map((f) => '--' + f.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')})`);
    recordMatcher(field, [value], `--${flag.replace(/^--/, '')}`); // validates now, naming the flag
    const target = negate ? deny : allow;
    // Typed as in a config file: the agent checks a request's filter with the config schema.
    (target[field] ??= []).push(PORT_FIELDS.has(field) ? Number(value) : value);
  }
  return {
    allow: Object.keys(allow).length ? [allow as FlowFilter] : [],
    deny: Object.keys(deny).length ? [deny as FlowFilter] : [],
  };
}
