// docs_asyncapi_valid: docs/asyncapi.yaml parses with the official AsyncAPI parser without an
// error diagnostic, is what gen_asyncapi.mjs produces from the current protos (no drift), and
// documents every payload case of EventEnvelope on the topic its field number belongs to; and
// docs/events.md has a table row for every payload case.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { ASYNCAPI_PATH, REPO, renderAsyncApi } from './gen_asyncapi.mjs';
import { loadModel, payloadCases } from './proto_model.mjs';

// scripts/bootstrap installs the parser into <ORDERLY_DEPS_DIR>/node (default: <repo>/.deps).
const depsDir = process.env.ORDERLY_DEPS_DIR || join(REPO, '.deps');
const require = createRequire(join(depsDir, 'node', 'package.json'));
const { Parser, DiagnosticSeverity } = require('@asyncapi/parser');

let failures = 0;
const fail = (msg) => {
  console.error(`FAIL: ${msg}`);
  ++failures;
};

const text = readFileSync(ASYNCAPI_PATH, 'utf8');
const eventsMd = readFileSync(join(REPO, 'docs', 'events.md'), 'utf8');

const { document, diagnostics } = await new Parser().parse(text, { source: ASYNCAPI_PATH });
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
for (const d of diagnostics) {
  const where = d.path && d.path.length ? d.path.join('.') : '(root)';
  const kind = ['error', 'warning', 'info', 'hint'][d.severity] ?? d.severity;
  console.log(`${kind} ${d.code} at ${where}: ${d.message}`);
}
if (errors.length || !document) fail(`${errors.length} error diagnostic(s) from @asyncapi/parser`);

if (renderAsyncApi() !== text) {
  fail('docs/asyncapi.yaml is out of date with the protos: run node tests/docs/gen_asyncapi.mjs --write');
}

if (document) {
  const topicOf = (n) => ['order', 'payment', 'inventory', 'fulfillment', 'aftersale'][Math.floor(n / 100) - 1];
  const cases = payloadCases(loadModel(join(REPO, 'proto')));
  for (const { field, message } of cases) {
    const topic = topicOf(field.number);
    if (!topic) {
      fail(`payload case ${field.name} = ${field.number} is outside the topic ranges 100..599`);
      continue;
    }
    const ch = document.channels().get(topic);
    if (!ch || ch.address() !== `orderly.${topic}.v1`) {
      fail(`channel ${topic} missing`);
      continue;
    }
    const msg = ch.messages().all().find((m) => m.name() === message.name);
    if (!msg) fail(`${message.name} is not a message of channel ${ch.address()}`);
    if (!eventsMd.includes(`| \`${message.name}\` (\`${field.name}\` = ${field.number})`)) {
      fail(`docs/events.md has no table row for ${message.name} (${field.name} = ${field.number})`);
    }
  }
  const sends = document.operations().filterBySend().length;
  const receives = document.operations().filterByReceive().length;
  console.log(`${document.channels().length} channels, ${document.messages().length} messages, ` +
              `${sends} send / ${receives} receive operations, ${cases.length} payload cases checked`);
}

console.log(failures ? `${failures} check(s) failed` : 'docs/asyncapi.yaml is valid and current');
process.exit(failures ? 1 : 0);
