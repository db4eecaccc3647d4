// Writes docs/asyncapi.yaml from the event contract (proto/orderly/events/v1) and the local topic
// list (deploy/local/kafka.sh), so the AsyncAPI document cannot drift from what is published.
//   node tests/docs/gen_asyncapi.mjs           print the document
//   node tests/docs/gen_asyncapi.mjs --write   rewrite docs/asyncapi.yaml
// validate_asyncapi.mjs fails when the committed file differs from this output.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadModel, payloadCases } from './proto_model.mjs';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ASYNCAPI_PATH = join(REPO, 'docs', 'asyncapi.yaml');

const ENVELOPE = 'orderly.events.v1.EventEnvelope';
const BINDING_VERSION = '0.5.0';

// One topic per emitting service; payload field numbers are grouped by topic (see the oneof).
const TOPICS = [
  { id: 'order', service: 'order-core', first: 100, title: 'Order events' },
  { id: 'payment', service: 'payment', first: 200, title: 'Payment and refund events' },
  { id: 'inventory', service: 'inventory', first: 300, title: 'Stock reservation and SKU events' },
  { id: 'fulfillment', service: 'fulfillment', first: 400, title: 'Fulfillment and shipment events' },
  { id: 'aftersale', service: 'after-sale', first: 500, title: 'After-sale case events' },
];

// (aggregate_type, the payload field holding aggregate_id, the payload field holding the key),
// as stated in the header comment of each *_events.proto.
function aggregateOf(topicId, eventName) {
  switch (topicId) {
    case 'order': return { type: 'order', id: 'order_id', key: 'order_id' };
    case 'payment': return { type: 'payment', id: 'payment_id', key: 'order_id' };
    case 'inventory':
      if (eventName === 'StockLow') return { type: 'sku', id: 'sku_id', key: 'sku_id' };
      if (eventName === 'SkuUpserted') return { type: 'sku', id: 'sku.sku_id', key: 'sku.sku_id' };
      return { type: 'reservation', id: 'order_id', key: 'order_id' };
    case 'fulfillment':
      if (eventName === 'FulfillmentAccepted') return { type: 'fulfillment', id: 'order_id', key: 'order_id' };
      return { type: 'shipment', id: 'shipment_id', key: 'order_id' };
    case 'aftersale': return { type: 'aftersale', id: 'case_id', key: 'order_id' };
  }
  throw new Error(`no aggregate rule for ${topicId}/${eventName}`);
}

// Topic partitions and broker retention as deploy/local creates them.
function localTopics() {
  const sh = readFileSync(join(REPO, 'deploy', 'local', 'kafka.sh'), 'utf8');
  const partitions = new Map();
  for (const m of sh.matchAll(/\b(orderly\.[\w.]+):(\d+)\b/g)) partitions.set(m[1], Number(m[2]));
  const hours = sh.match(/^log\.retention\.hours=(\d+)$/m);
  if (!hours) throw new Error('log.retention.hours not found in deploy/local/kafka.sh');
  return { partitions, retentionMs: Number(hours[1]) * 3600 * 1000 };
}

const ref = (path) => ({ $ref: path });
const schemaRef = (fullName) => ref(`#/components/schemas/${fullName}`);

function scalarSchema(type) {
  switch (type) {
    case 'string': return { type: 'string' };
    case 'bytes': return { type: 'string', contentEncoding: 'base64' };
    case 'bool': return { type: 'boolean' };
    case 'double': case 'float': return { type: 'number' };
    case 'int32': case 'sint32': case 'sfixed32': return { type: 'integer', format: 'int32' };
    case 'uint32': case 'fixed32': return { type: 'integer', format: 'int32', minimum: 0 };
    // proto3 JSON writes 64-bit integers as strings.
    case 'int64': case 'sint64': case 'sfixed64': return { type: 'string', format: 'int64', pattern: '^-?[0-9]+$' };
    case 'uint64': case 'fixed64': return { type: 'string', format: 'int64', pattern: '^[0-9]+$' };
    case 'google.protobuf.Timestamp': return { type: 'string', format: 'date-time' };
  }
  return null;
}

function typeSchema(type) {
  return scalarSchema(type) ?? schemaRef(type);
}

function fieldSchema(f) {
  let s;
  if (f.map) s = { type: 'object', additionalProperties: typeSchema(f.map.value) };
  else if (f.repeated) s = { type: 'array', items: typeSchema(f.type) };
  else s = typeSchema(f.type);
  const notes = [];
  if (f.comment) notes.push(f.comment);
  notes.push(`proto field ${f.number}${f.type && !scalarSchema(f.type) ? ` (${f.type})` : ''}.`);
  // A $ref must stand alone in JSON Schema draft 7; wrap it to carry a description.
  if (s.$ref) s = { allOf: [s] };
  return { ...s, description: notes.join('\n') };
}

// JSON Schema mirrors of every message and enum reachable from the envelope.
function buildSchemas(types) {
  const reachable = new Set();
  const visit = (name) => {
    if (reachable.has(name) || !types.has(name)) return;
    reachable.add(name);
    const t = types.get(name);
    if (t.kind === 'message') for (const f of t.fields) visit(f.map ? f.map.value : f.type);
  };
  visit(ENVELOPE);
  const schemas = {};
  for (const name of [...reachable].sort()) {
    const t = types.get(name);
    const desc = [t.comment, `Protobuf ${t.kind} ${name} (${'proto/' + t.file}).`].filter(Boolean).join('\n');
    if (t.kind === 'enum') {
      schemas[name] = { type: 'string', description: desc, enum: t.values.map((v) => v.name) };
      continue;
    }
    const properties = {};
    for (const f of t.fields) properties[f.name] = fieldSchema(f);
    schemas[name] = { type: 'object', description: desc, properties };
    if (name === ENVELOPE) {
      schemas[name]['x-proto-oneof'] = { payload: t.fields.filter((f) => f.oneof).map((f) => f.name) };
    }
  }
  return schemas;
}

function buildDocument() {
  const types = loadModel(join(REPO, 'proto'));
  const cases = payloadCases(types);
  const { partitions, retentionMs } = localTopics();
  const messages = {};
  const channels = {};
  const operations = {};

  messages.DeadLetteredEvent = {
    name: 'DeadLetteredEvent',
    title: 'Dead-lettered event',
    summary: 'A record a consumer gave up on after its retries, copied verbatim with error headers.',
    description:
      'Key, value and headers are those of the original record (the value is normally an ' +
      'EventEnvelope; with x-orderly-error "undecodable event envelope" it is whatever could not ' +
      'be decoded). The consumer named in x-orderly-consumer can feed it back with ' +
      'InboxConsumer::ReplayDeadLetters.',
    contentType: 'application/protobuf',
    headers: { type: 'object', allOf: [ref('#/components/schemas/CloudEventsHeaders'), ref('#/components/schemas/DeadLetterHeaders')] },
    payload: schemaRef(ENVELOPE),
    bindings: { kafka: { key: { type: 'string', description: 'The original record key.' }, bindingVersion: BINDING_VERSION } },
  };

  for (const t of TOPICS) {
    const address = `orderly.${t.id}.v1`;
    const dlq = `${address}.dlq`;
    const mine = cases.filter((c) => c.field.number >= t.first && c.field.number < t.first + 100);
    if (!mine.length) throw new Error(`no payload case for ${address}`);
    const channelMessages = {};
    for (const { field, message } of mine) {
      const agg = aggregateOf(t.id, message.name);
      const key = agg.key === 'order_id'
        ? 'the order id (EventEnvelope.order_id)'
        : `the ${agg.key} (EventEnvelope.aggregate_id; order_id is empty)`;
      const [summary] = message.comment.split(/(?<=\.)\s/);
      messages[message.name] = {
        name: message.name,
        title: message.name.replace(/([a-z])([A-Z])/g, '$1 $2'),
        summary: summary.replace(/\n/g, ' '),
        description:
          `${message.comment}\n\nTopic ${address}, source ${t.service}. Envelope: event_type ` +
          `${message.fullName}, aggregate_type "${agg.type}", aggregate_id = ${agg.id}, payload ` +
          `case ${field.name} (field ${field.number}). Kafka key: ${key}.`,
        contentType: 'application/protobuf',
        headers: {
          type: 'object',
          allOf: [
            ref('#/components/schemas/CloudEventsHeaders'),
            {
              type: 'object',
              properties: {
                ce_type: { const: message.fullName },
                ce_source: { const: `/orderly/${t.service}` },
                ce_subject: { type: 'string', pattern: `^${agg.type}/` },
              },
            },
          ],
        },
        payload: {
          allOf: [
            schemaRef(ENVELOPE),
            {
              type: 'object',
              required: ['event_id', 'event_type', 'aggregate_type', 'aggregate_id', 'sequence', field.name],
              properties: {
                event_type: { const: message.fullName },
                aggregate_type: { const: agg.type },
                source: { const: t.service },
                [field.name]: schemaRef(message.fullName),
              },
            },
          ],
        },
        bindings: { kafka: { key: { type: 'string', description: `Record key: ${key}.` }, bindingVersion: BINDING_VERSION } },
      };
      channelMessages[message.name] = ref(`#/components/messages/${message.name}`);
    }
    const topicBinding = (topic) => {
      if (!partitions.has(topic)) throw new Error(`${topic} is not created by deploy/local/kafka.sh`);
      return {
        kafka: {
          topic,
          partitions: partitions.get(topic),
          replicas: 1,
          topicConfiguration: { 'cleanup.policy': ['delete'], 'retention.ms': retentionMs },
          bindingVersion: BINDING_VERSION,
        },
      };
    };
    channels[t.id] = {
      address,
      title: t.title,
      description:
        `Published by ${t.service}'s outbox relay. Key = ${t.id === 'inventory' ? 'order id, or sku id for SKU events' : 'order id'}, ` +
        'so one order\'s events keep their order within this topic. Value = binary EventEnvelope.',
      messages: channelMessages,
      bindings: topicBinding(address),
    };
    channels[`${t.id}DeadLetters`] = {
      address: dlq,
      title: `${t.title}: dead letters`,
      description: `Records of ${address} that a consumer gave up on after its retries.`,
      messages: { DeadLetteredEvent: ref('#/components/messages/DeadLetteredEvent') },
      bindings: topicBinding(dlq),
    };
    const refs = (ch, names) => names.map((n) => ref(`#/channels/${ch}/messages/${n}`));
    operations[`publish${cap(t.id)}Events`] = {
      action: 'send',
      channel: ref(`#/channels/${t.id}`),
      title: `${t.service} publishes ${address}`,
      summary: 'The outbox relay produces committed outbox rows (idempotent producer, acks=all).',
      messages: refs(t.id, Object.keys(channelMessages)),
    };
    operations[`consume${cap(t.id)}Events`] = {
      action: 'receive',
      channel: ref(`#/channels/${t.id}`),
      title: `Consumers read ${address}`,
      summary: 'One consumer group per consuming service; dedupe by event_id, drop stale sequences, commit after processing.',
      messages: refs(t.id, Object.keys(channelMessages)),
      bindings: { kafka: { groupId: { type: 'string', description: 'One group per consuming service (InboxConsumer uses its consumer name).' }, bindingVersion: BINDING_VERSION } },
    };
    operations[`deadLetter${cap(t.id)}Events`] = {
      action: 'send',
      channel: ref(`#/channels/${t.id}DeadLetters`),
      title: `Consumers dead-letter records of ${address}`,
      summary: 'After max_attempts (3) failed handler runs the record is copied here and the consumer moves on.',
      messages: refs(`${t.id}DeadLetters`, ['DeadLetteredEvent']),
    };
    operations[`replay${cap(t.id)}DeadLetters`] = {
      action: 'receive',
      channel: ref(`#/channels/${t.id}DeadLetters`),
      title: `Operators replay ${dlq}`,
      summary: 'ReplayDeadLetters applies the records whose x-orderly-consumer is this consumer (group <consumer>.dlq-replay).',
      messages: refs(`${t.id}DeadLetters`, ['DeadLetteredEvent']),
      bindings: { kafka: { groupId: { type: 'string', description: '<consumer name>.dlq-replay' }, bindingVersion: BINDING_VERSION } },
    };
  }

  const schemas = {
    CloudEventsHeaders: {
      type: 'object',
      description: 'CloudEvents 1.0 Kafka protocol binding, binary mode: copies of envelope fields for routing without decoding.',
      required: ['ce_specversion', 'ce_id', 'ce_source', 'ce_type', 'ce_time', 'ce_subject', 'ce_sequence', 'content-type'],
      properties: {
        ce_specversion: { type: 'string', const: '1.0' },
        ce_id: { type: 'string', format: 'uuid', description: 'EventEnvelope.event_id (UUIDv7).' },
        ce_source: { type: 'string', pattern: '^/orderly/[a-z-]+$', description: '"/orderly/<service>".' },
        ce_type: { type: 'string', description: 'EventEnvelope.event_type: the full protobuf name of the payload.' },
        ce_time: { type: 'string', format: 'date-time', description: 'EventEnvelope.occurred_at (RFC 3339); also the record timestamp.' },
        ce_subject: { type: 'string', description: '"<aggregate_type>/<aggregate_id>".' },
        ce_sequence: { type: 'string', pattern: '^[1-9][0-9]*$', description: 'EventEnvelope.sequence, decimal.' },
        'content-type': { type: 'string', const: 'application/protobuf' },
        traceparent: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$', description: 'W3C trace context; present when the cause had one.' },
      },
    },
    DeadLetterHeaders: {
      type: 'object',
      description: 'Added by InboxConsumer when it dead-letters a record.',
      required: ['x-orderly-error', 'x-orderly-consumer', 'x-orderly-attempts', 'x-orderly-origin'],
      properties: {
        'x-orderly-error': { type: 'string', description: 'The last handler error (or "undecodable event envelope").' },
        'x-orderly-consumer': { type: 'string', description: 'The consumer (group) that gave up.' },
        'x-orderly-attempts': { type: 'string', pattern: '^[0-9]+$', description: 'Handler attempts made (0 when undecodable).' },
        'x-orderly-origin': { type: 'string', pattern: '^.+/[0-9]+/[0-9]+$', description: '"<topic>/<partition>/<offset>" of the original record.' },
      },
    },
    ...buildSchemas(types),
  };

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Orderly domain events',
      version: '1.0.0',
      description:
        'Domain events of the Orderly order backend, published through a transactional outbox. ' +
        'Record value: binary protobuf orderly.events.v1.EventEnvelope (proto/orderly/events/v1); ' +
        'the schemas below mirror it in the proto3 JSON mapping with the .proto field names. ' +
        'Delivery is at-least-once, ordered per key within a topic. Read docs/events.md first.',
    },
    defaultContentType: 'application/protobuf',
    servers: {
      local: {
        host: '127.0.0.1:19092',
        protocol: 'kafka',
        protocolVersion: '4.1',
        description: 'The single-node KRaft broker started by deploy/local/start (PLAINTEXT).',
      },
    },
    channels,
    operations,
    components: { schemas, messages },
  };
}

const cap = (s) => s[0].toUpperCase() + s.slice(1);

// --- a small YAML writer: block style, quoted only where a plain scalar could be misread ---
function scalar(v) {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  const s = String(v);
  const plain = /^[A-Za-z_/][A-Za-z0-9_ ./<>()-]*$/.test(s) && !/[ ]$/.test(s) &&
      !/^(true|false|null|yes|no|on|off|~)$/i.test(s);
  return plain ? s : JSON.stringify(s);
}

function emit(v, indent, out) {
  const pad = '  '.repeat(indent);
  if (Array.isArray(v)) {
    for (const item of v) {
      if (item !== null && typeof item === 'object') {
        const sub = [];
        emit(item, indent + 1, sub);
        out.push(`${pad}- ${sub[0].trimStart()}`, ...sub.slice(1));
      } else {
        out.push(`${pad}- ${scalar(item)}`);
      }
    }
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    const key = /^[A-Za-z0-9_.$-]+$/.test(k) ? k : JSON.stringify(k);
    if (val !== null && typeof val === 'object') {
      if (Array.isArray(val) && val.length === 0) out.push(`${pad}${key}: []`);
      else if (!Array.isArray(val) && Object.keys(val).length === 0) out.push(`${pad}${key}: {}`);
      else {
        out.push(`${pad}${key}:`);
        emit(val, indent + 1, out);
      }
    } else if (typeof val === 'string' && val.includes('\n')) {
      out.push(`${pad}${key}: |-`);
      for (const l of val.split('\n')) out.push(l ? `${pad}  ${l}` : '');
    } else {
      out.push(`${pad}${key}: ${scalar(val)}`);
    }
  }
}

export function renderAsyncApi() {
  const out = [
    '# Generated by tests/docs/gen_asyncapi.mjs from proto/orderly/events/v1/*.proto and',
    '# deploy/local/kafka.sh. Do not edit: change the protos or the generator, then run',
    '#   node tests/docs/gen_asyncapi.mjs --write',
  ];
  emit(buildDocument(), 0, out);
  return out.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = renderAsyncApi();
  if (process.argv.includes('--write')) writeFileSync(ASYNCAPI_PATH, text);
  else process.stdout.write(text);
}
