// A reader for the subset of proto3 that Orderly's contract uses: top-level messages and enums,
// scalar / message / enum / map / repeated fields, one oneof, leading `//` comments.
// No dependency on protoc or a protobuf runtime, so the docs test runs wherever node does.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const SCALARS = new Set([
  'double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32',
  'fixed64', 'sfixed32', 'sfixed64', 'bool', 'string', 'bytes',
]);


const FIELD_RE =
  /^(repeated\s+|optional\s+)?(map<\s*(\w+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(\[[^\]]*\])?\s*;/;
const ENUM_VALUE_RE = /^(\w+)\s*=\s*(-?\d+)\s*(\[[^\]]*\])?\s*;/;

// Parses one file into {package, messages: [...], enums: [...]} (types carry full names).
function parseFile(path, root) {
  const text = readFileSync(path, 'utf8');
  const file = { path: relative(root, path), package: '', imports: [], messages: [], enums: [] };
  let comment = [];
  const stack = [];  // {kind: 'message'|'enum'|'oneof', node}
  const take = () => {
    const c = comment.join('\n').trim();
    comment = [];
    return c;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') {
      comment = [];
      continue;
    }
    if (line.startsWith('//')) {
      comment.push(line.replace(/^\/\/ ?/, ''));
      continue;
    }
    let m;
    const top = stack[stack.length - 1];
    if ((m = line.match(/^package\s+([\w.]+)\s*;/))) {
      file.package = m[1];
      comment = [];
    } else if ((m = line.match(/^(message|enum)\s+(\w+)\s*\{$/))) {
      if (stack.length) throw new Error(`${path}: nested ${m[1]} ${m[2]} is not supported`);
      const node = { name: m[2], fullName: `${file.package}.${m[2]}`, package: file.package,
                     file: file.path, comment: take() };
      if (m[1] === 'message') {
        node.fields = [];
        file.messages.push(node);
      } else {
        node.values = [];
        file.enums.push(node);
      }
      stack.push({ kind: m[1], node });
    } else if ((m = line.match(/^oneof\s+(\w+)\s*\{$/))) {
      if (!top || top.kind !== 'message') throw new Error(`${path}: oneof outside a message`);
      stack.push({ kind: 'oneof', node: top.node, oneof: m[1] });
      comment = [];
    } else if (line === '}') {
      if (!stack.length) throw new Error(`${path}: unbalanced }`);
      stack.pop();
      comment = [];
    } else if (top && (top.kind === 'message' || top.kind === 'oneof') &&
               (m = line.match(FIELD_RE))) {
      top.node.fields.push({
        name: m[5], number: Number(m[6]), repeated: (m[1] || '').trim() === 'repeated',
        map: m[3] ? { key: m[3], value: m[4] } : null, type: m[3] ? null : m[2],
        oneof: top.kind === 'oneof' ? top.oneof : null, comment: take(),
        groupComment: null,
      });
    } else if (top && top.kind === 'enum' && (m = line.match(ENUM_VALUE_RE))) {
      top.node.values.push({ name: m[1], number: Number(m[2]), comment: take() });
    } else if ((m = line.match(/^import\s+"([^"]+)"\s*;/))) {
      file.imports.push(m[1]);
      comment = [];
    } else if (/^(syntax|option|reserved)\b/.test(line)) {
      comment = [];
    } else {
      throw new Error(`${path}: cannot read line: ${line}`);
    }
  }
  if (stack.length) throw new Error(`${path}: unclosed block`);
  return file;
}

// Every message and enum of `entry` and the files it imports (google/protobuf/* excepted), by
// full name, with type references resolved.
export function loadModel(protoDir, entry = 'orderly/events/v1/event_envelope.proto') {
  const types = new Map();
  const seen = new Set();
  const load = (rel) => {
    if (seen.has(rel) || rel.startsWith('google/protobuf/')) return;
    seen.add(rel);
    const f = parseFile(join(protoDir, rel), protoDir);
    for (const m of f.messages) types.set(m.fullName, { kind: 'message', ...m });
    for (const e of f.enums) types.set(e.fullName, { kind: 'enum', ...e });
    for (const i of f.imports) load(i);
  };
  load(entry);
  const resolve = (name, pkg) => {
    if (SCALARS.has(name)) return name;
    if (name.startsWith('google.protobuf.')) return name;
    // Relative names resolve in the enclosing package first, then from the root.
    const parts = pkg.split('.');
    for (let i = parts.length; i >= 0; --i) {
      const candidate = [...parts.slice(0, i), name].filter(Boolean).join('.');
      if (types.has(candidate)) return candidate;
    }
    throw new Error(`unresolved type ${name} in package ${pkg}`);
  };
  for (const t of types.values()) {
    if (t.kind !== 'message') continue;
    for (const f of t.fields) {
      if (f.map) f.map.value = resolve(f.map.value, t.package);
      else f.type = resolve(f.type, t.package);
    }
  }
  return types;
}

// The envelope's payload cases: [{field, message}] in field-number order.
export function payloadCases(types, envelopeName = 'orderly.events.v1.EventEnvelope') {
  const env = types.get(envelopeName);
  if (!env) throw new Error(`${envelopeName} not found`);
  return env.fields.filter((f) => f.oneof === 'payload').map((f) => ({ field: f, message: types.get(f.type) }));
}
