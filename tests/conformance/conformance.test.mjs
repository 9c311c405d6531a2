// The official openai npm SDK drives batchd-sim, and every JSON body the
// simulator sends is checked against the schema spec/openapi.yaml (a copy of
// ../shared/openai/openapi.yaml, so a bare clone of this repository can run it)
// gives for that route, method and status. If the simulator renames a field,
// changes a type or a status, the SDK or the schema check fails here.
//
// Run: BATCHD_SIM=build/release/sim/batchd-sim node --test conformance.test.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import Ajv from 'ajv';
import OpenAI from 'openai';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const simBinary = process.env.BATCHD_SIM ?? path.join(here, '../../build/release/sim/batchd-sim');
const specPath = process.env.OPENAI_SPEC ?? path.join(here, 'spec/openapi.yaml');
const apiKey = 'sk-conformance-test-key';

// ---- the spec as a validator ------------------------------------------------

// The spec's own examples send null for unset optional fields ("failed_at":
// null, "errors": null) although those properties are typed integer/object, and
// the real service does the same. So a property that is not in its object's
// `required` list may also be null. Everything else is checked as written.
function allowNullForOptional(node) {
  if (Array.isArray(node)) return node.forEach(allowNullForOptional);
  if (!node || typeof node !== 'object') return;
  for (const value of Object.values(node)) allowNullForOptional(value);
  if (node.properties && typeof node.properties === 'object') {
    const required = new Set(node.required ?? []);
    for (const [name, schema] of Object.entries(node.properties)) {
      if (!required.has(name)) node.properties[name] = { anyOf: [schema, { type: 'null' }] };
    }
  }
}

function loadSpec() {
  const spec = YAML.parse(fs.readFileSync(specPath, 'utf8'), { maxAliasCount: -1 });
  allowNullForOptional(spec.components.schemas);
  allowNullForOptional(spec.paths);
  spec.$id = 'spec';
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema(spec);
  const routes = Object.keys(spec.paths).map((template) => ({
    template,
    pattern: new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  }));
  const cache = new Map();
  const pointer = (...parts) => parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  return {
    // The compiled validator for a response, or null when the spec declares no JSON body.
    validatorFor(urlPath, method, status) {
      const route = routes.find((r) => r.pattern.test(urlPath));
      if (!route) throw new Error(`no route in the spec for ${method} ${urlPath}`);
      const op = spec.paths[route.template][method.toLowerCase()];
      if (!op) throw new Error(`the spec has no ${method} on ${route.template}`);
      let ref;
      if (op.responses?.[status]?.content?.['application/json']) {
        ref = `spec#/${pointer('paths', route.template, method.toLowerCase(), 'responses', status, 'content', 'application/json', 'schema')}`;
        if (op.responses[status].content['application/json'].schema?.$ref === undefined &&
            op.responses[status].content['application/json'].schema?.type === 'string') return null;
      } else if (status >= 400) {
        ref = 'spec#/components/schemas/ErrorResponse';
      } else {
        throw new Error(`the spec declares no ${status} for ${method} ${route.template}`);
      }
      const key = `${route.template} ${method} ${ref}`;
      if (!cache.has(key)) cache.set(key, ajv.compile({ $ref: ref }));
      return { validate: cache.get(key), route: `${method} ${route.template}` };
    },
  };
}

// ---- the simulator ----------------------------------------------------------

let sim, baseURL, client, spec;
const checked = { bodies: 0, violations: [] };

async function startSim() {
  const child = spawn(simBinary, ['--port', '0', '--time-scale', '2000', '--seed', '7'], {
    env: { ...process.env, BATCHD_SIM_API_KEY: apiKey },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`batchd-sim exited with ${code}`)));
    lines.once('line', (line) => {
      const m = line.match(/listening on (http:\/\/\S+)/);
      m ? resolve(m[1]) : reject(new Error(`unexpected first line: ${line}`));
    });
  });
  return { child, url };
}

// fetch that checks every JSON body against the spec before the SDK sees it.
async function checkingFetch(url, init) {
  const res = await fetch(url, init);
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('application/json')) {
    const u = new URL(url);
    const urlPath = u.pathname.replace(/^\/v1/, '');
    const body = await res.clone().json();
    const v = spec.validatorFor(urlPath, init?.method ?? 'GET', res.status);
    if (v) {
      checked.bodies++;
      if (!v.validate(body)) {
        checked.violations.push({ route: v.route, status: res.status, errors: v.validate.errors, body });
      }
    }
  }
  return res;
}

async function admin(method, route, body) {
  const res = await fetch(`${baseURL.replace(/\/v1$/, '')}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(res.status, 200, `${method} ${route}`);
  return res.json();
}

const terminal = new Set(['completed', 'failed', 'expired', 'cancelled']);
async function waitForBatch(id, until = terminal) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const b = await client.batches.retrieve(id);
    if (until.has(b.status)) return b;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${b.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function writeRequests(n, model = 'gpt-4o-mini') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-conformance-'));
  const file = path.join(dir, 'requests.jsonl');
  const lines = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({
      custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 20 },
    }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { dir, file, ids: lines.map((_, i) => `req-${i}`) };
}

before(async () => {
  spec = loadSpec();
  ({ child: sim, url: baseURL } = await startSim());
  baseURL += '/v1';
  client = new OpenAI({ apiKey, baseURL, maxRetries: 3, fetch: checkingFetch });
});

after(() => {
  sim?.kill('SIGTERM');
});

// ---- files ---------------------------------------------------------------------

let input;
let inputFile;

test('files.create from a stream, retrieve, list, content', async () => {
  input = writeRequests(5);
  // A ReadStream has no known length: the SDK sends it without Content-Length.
  inputFile = await client.files.create({ file: fs.createReadStream(input.file), purpose: 'batch' });
  assert.equal(inputFile.object, 'file');
  assert.equal(inputFile.purpose, 'batch');
  assert.equal(inputFile.filename, 'requests.jsonl');
  assert.equal(inputFile.bytes, fs.statSync(input.file).size);

  const again = await client.files.retrieve(inputFile.id);
  assert.deepEqual(again, inputFile);

  const listed = [];
  for await (const f of client.files.list({ purpose: 'batch' })) listed.push(f.id);
  assert.ok(listed.includes(inputFile.id));

  const content = await client.files.content(inputFile.id);
  assert.equal(Buffer.from(await content.arrayBuffer()).toString(), fs.readFileSync(input.file, 'utf8'));
});

test('files.delete', async () => {
  const extra = await client.files.create({ file: fs.createReadStream(input.file), purpose: 'batch' });
  const deleted = await client.files.delete(extra.id);
  assert.deepEqual(deleted, { id: extra.id, object: 'file', deleted: true });
  await assert.rejects(client.files.retrieve(extra.id), OpenAI.NotFoundError);
});

// ---- batches ----------------------------------------------------------------

test('batches.create, retrieve until completed, and the output file', async () => {
  const created = await client.batches.create({
    input_file_id: inputFile.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata: { job: 'conformance' },
  });
  assert.equal(created.status, 'validating');
  assert.deepEqual(created.metadata, { job: 'conformance' });

  const done = await waitForBatch(created.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: 5, completed: 5, failed: 0 });
  for (const field of ['in_progress_at', 'finalizing_at', 'completed_at']) {
    assert.equal(typeof done[field], 'number', field);
  }

  const out = await client.files.content(done.output_file_id);
  const lines = (await out.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.custom_id).sort(), [...input.ids].sort());
  for (const l of lines) {
    assert.equal(l.response.status_code, 200);
    assert.equal(l.error, null);
    assert.equal(l.response.body.object, 'chat.completion');
  }
  const stats = await admin('GET', '/admin/stats');
  assert.equal(stats.batches_by_metadata['{"job":"conformance"}'], 1);
});

test('batches.list auto-pagination sees every batch once', async () => {
  const ids = [];
  for (let i = 0; i < 25; i++) {
    const b = await client.batches.create({
      input_file_id: inputFile.id, endpoint: '/v1/chat/completions', completion_window: '24h',
    });
    ids.push(b.id);
  }
  const seen = [];
  for await (const b of client.batches.list({ limit: 10 })) seen.push(b.id);
  for (const id of ids) assert.equal(seen.filter((s) => s === id).length, 1, id);
  assert.equal(new Set(seen).size, seen.length, 'no batch twice across pages');
});

test('batches.cancel', async () => {
  const b = await client.batches.create({
    input_file_id: inputFile.id, endpoint: '/v1/chat/completions', completion_window: '24h',
  });
  const cancelling = await client.batches.cancel(b.id);
  assert.equal(cancelling.status, 'cancelling');
  const cancelled = await waitForBatch(b.id);
  assert.equal(cancelled.status, 'cancelled');
  assert.equal(typeof cancelled.cancelled_at, 'number');
});

// ---- errors as the SDK's typed errors ------------------------------------------

test('401 is an AuthenticationError', async () => {
  const wrong = new OpenAI({ apiKey: 'sk-not-the-key-000000', baseURL, maxRetries: 0, fetch: checkingFetch });
  await assert.rejects(wrong.files.list().then((p) => p), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, e.constructor.name);
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_api_key');
    return true;
  });
});

test('404 is a NotFoundError', async () => {
  await assert.rejects(client.batches.retrieve('batch_doesnotexist'), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
    assert.equal(e.status, 404);
    return true;
  });
});

test('400 is a BadRequestError naming the parameter', async () => {
  await assert.rejects(
    client.batches.create({ input_file_id: inputFile.id, endpoint: '/v1/chat/completions', completion_window: '48h' }),
    (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, e.constructor.name);
      assert.equal(e.param, 'completion_window');
      return true;
    },
  );
});

test('a 429 with retry-after-ms is retried by the SDK', async () => {
  await admin('POST', '/admin/reset');
  await admin('POST', '/admin/faults', { next_429: 1, retry_after_ms: 20 });
  const page = await client.files.list();
  assert.ok(page.data.length > 0);
  const stats = await admin('GET', '/admin/stats');
  assert.equal(stats.calls['GET /v1/files']['429'], 1, 'the 429 was served');
  assert.equal(stats.calls['GET /v1/files']['200'], 1, 'and the retry succeeded');
});

// ---- the schema check's verdict --------------------------------------------------

test('every JSON body matched the OpenAPI schema of its route', () => {
  assert.ok(checked.bodies > 30, `only ${checked.bodies} bodies were checked`);
  const report = checked.violations
    .slice(0, 5)
    .map((v) => `${v.route} ${v.status}: ${JSON.stringify(v.errors.slice(0, 3))}\n  body: ${JSON.stringify(v.body).slice(0, 400)}`)
    .join('\n');
  assert.equal(checked.violations.length, 0, `schema violations:\n${report}`);
});
