// Schema compatibility guard: compares the current descriptor set of proto/
// (protoc --descriptor_set_out) with the committed baseline and lists every
// change that breaks readers of already-written records: a field number
// reused, retyped, renamed or removed without `reserved`, or an enum value
// renamed or removed (the JSON form carries names, the wire form numbers).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';

interface Range { start?: number; end?: number }
interface Field { name?: string; number?: number; label?: string | number; type?: string | number; typeName?: string }
interface EnumValue { name?: string; number?: number }
interface EnumDesc { name?: string; value?: EnumValue[]; reservedRange?: Range[]; reservedName?: string[] }
interface MessageDesc {
  name?: string;
  field?: Field[];
  nestedType?: MessageDesc[];
  enumType?: EnumDesc[];
  reservedRange?: Range[];
  reservedName?: string[];
}
interface FileDesc { name?: string; package?: string; messageType?: MessageDesc[]; enumType?: EnumDesc[] }

const require = createRequire(import.meta.url);
const descriptorRoot = protobuf.Root.fromJSON(JSON.parse(readFileSync(require.resolve('protobufjs/google/protobuf/descriptor.json'), 'utf8')));
const FileDescriptorSet = descriptorRoot.lookupType('google.protobuf.FileDescriptorSet');

function decodeSet(bytes: Uint8Array): FileDesc[] {
  const set = FileDescriptorSet.toObject(FileDescriptorSet.decode(bytes), { enums: String, arrays: true }) as { file: FileDesc[] };
  // Well-known imports (google/protobuf/*) are not ours to guard.
  return set.file.filter((f) => !(f.package ?? '').startsWith('google.protobuf'));
}

function collect(files: FileDesc[]): { messages: Map<string, MessageDesc>; enums: Map<string, EnumDesc> } {
  const messages = new Map<string, MessageDesc>();
  const enums = new Map<string, EnumDesc>();
  const walk = (prefix: string, msgs: MessageDesc[] = [], ens: EnumDesc[] = []): void => {
    for (const e of ens) enums.set(`${prefix}.${e.name}`, e);
    for (const m of msgs) {
      const name = `${prefix}.${m.name}`;
      messages.set(name, m);
      walk(name, m.nestedType, m.enumType);
    }
  };
  for (const f of files) walk(f.package ? `.${f.package}` : '', f.messageType, f.enumType);
  return { messages, enums };
}

/** Message reserved ranges have an exclusive end; enum reserved ranges an inclusive one. */
function reserved(ranges: Range[] | undefined, n: number, endInclusive: boolean): boolean {
  return (ranges ?? []).some((r) => n >= (r.start ?? 0) && (endInclusive ? n <= (r.end ?? 0) : n < (r.end ?? 0)));
}

function typeOf(f: Field): string {
  return `${f.label === 'LABEL_REPEATED' || f.label === 3 ? 'repeated ' : ''}${f.typeName || String(f.type)}`;
}

/** Every breaking change from baseline to current, as readable lines; empty when compatible. */
export function compareDescriptorSets(baselineBytes: Uint8Array, currentBytes: Uint8Array): string[] {
  const base = collect(decodeSet(baselineBytes));
  const cur = collect(decodeSet(currentBytes));
  const problems: string[] = [];
  for (const [name, old] of base.messages) {
    const now = cur.messages.get(name);
    if (!now) {
      problems.push(`message ${name.slice(1)} was removed (keep it; deprecate its use instead)`);
      continue;
    }
    const byNumber = new Map((now.field ?? []).map((f) => [f.number ?? 0, f]));
    for (const f of old.field ?? []) {
      const where = `${name.slice(1)}.${f.name} = ${f.number}`;
      const g = byNumber.get(f.number ?? 0);
      if (!g) {
        if (!reserved(now.reservedRange, f.number ?? 0, false)) problems.push(`${where}: field removed without reserving number ${f.number} (add \`reserved ${f.number};\`)`);
        else if (!(now.reservedName ?? []).includes(f.name ?? '')) problems.push(`${where}: field removed without reserving name "${f.name}" (add \`reserved "${f.name}";\`)`);
        continue;
      }
      if (g.name !== f.name) problems.push(`${where}: field number ${f.number} renamed to "${g.name}" (the JSON name changes; add a new field instead)`);
      if (typeOf(g) !== typeOf(f)) problems.push(`${where}: field number ${f.number} retyped from ${typeOf(f)} to ${typeOf(g)}`);
    }
    for (const g of now.field ?? []) {
      const where = `${name.slice(1)}.${g.name} = ${g.number}`;
      if (reserved(old.reservedRange, g.number ?? 0, false)) problems.push(`${where}: reuses reserved field number ${g.number}`);
      if ((old.reservedName ?? []).includes(g.name ?? '')) problems.push(`${where}: reuses reserved field name "${g.name}"`);
    }
  }
  for (const [name, old] of base.enums) {
    const now = cur.enums.get(name);
    if (!now) {
      problems.push(`enum ${name.slice(1)} was removed`);
      continue;
    }
    const byNumber = new Map((now.value ?? []).map((v) => [v.number ?? 0, v]));
    for (const v of old.value ?? []) {
      const where = `${name.slice(1)}.${v.name} = ${v.number}`;
      const w = byNumber.get(v.number ?? 0);
      if (!w) {
        if (!reserved(now.reservedRange, v.number ?? 0, true)) problems.push(`${where}: enum value removed without reserving number ${v.number}`);
      } else if (w.name !== v.name) {
        problems.push(`${where}: enum value ${v.number} renamed to "${w.name}" (JSON carries enum names)`);
      }
    }
    for (const w of now.value ?? []) {
      if (reserved(old.reservedRange, w.number ?? 0, true)) problems.push(`${name.slice(1)}.${w.name} = ${w.number}: reuses reserved enum number ${w.number}`);
    }
  }
  return problems;
}
