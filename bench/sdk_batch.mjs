// A batch run as a script around the official openai SDK would do it (the
// baseline of bench/refusals_vs_sdk.py): upload, create, poll every
// POLL_S seconds, download the output. The SDK's own retries ride out 429s
// (Retry-After honoured up to 60 s); maxRetries is raised from 2 to 5 so a
// run of three refusals in a row does not end the script.
// Usage: node bench/sdk_batch.mjs BASE_URL INPUT.jsonl OUTPUT.jsonl  (key in OPENAI_API_KEY)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/conformance/package.json'));
const sdk = require('openai');
const OpenAI = sdk.default ?? sdk;
const { toFile } = sdk;

const [baseURL, input, output] = process.argv.slice(2);
const pollMs = Number(process.env.POLL_S ?? 1) * 1000;
const client = new OpenAI({ baseURL, maxRetries: 5 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const started = Date.now();
// The file's bytes in memory, not a stream: a stream cannot be sent again, so the SDK could not retry it.
const file = await client.files.create({
  file: await toFile(fs.readFileSync(input), path.basename(input)), purpose: 'batch',
});
let batch = await client.batches.create({
  input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h',
});
while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
  await sleep(pollMs);
  batch = await client.batches.retrieve(batch.id);
}
const content = await client.files.content(batch.output_file_id);
fs.writeFileSync(output, Buffer.from(await content.arrayBuffer()));
console.log(JSON.stringify({ seconds: (Date.now() - started) / 1000, status: batch.status }));
