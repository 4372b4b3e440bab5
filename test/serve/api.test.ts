/**
 * `transformer serve`'s JSON endpoints over HTTP (node's fetch against a server on port 0 of
 * 127.0.0.1): answers equal the library's, streams are server-sent events that join to the
 * non-streamed text, attention maps equal attentionSections', and bad requests get 4xx JSON
 * errors while the server keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  loadClassifier,
  loadLanguageModel,
  loadTranslator,
  sinusoidTable,
} from '../../src/index.js';
import { attentionSections } from '../../src/tasks/attention-maps.js';
import { startServer } from '../../src/serve/server.js';
import { longestGreedy, parseEvents, tinyModels } from './fixtures.js';
import { cli } from '../cli/in-process.js';

let dirs: Awaited<ReturnType<typeof tinyModels>>;
let server: Awaited<ReturnType<typeof startServer>>;

before(async () => {
  dirs = await tinyModels(['translate', 'lm', 'classify']);
  // The translation directory twice (once with a trailing slash): loaded once.
  server = await startServer({
    models: [dirs.translate, dirs.lm, dirs.classify, dirs.translate + '/'],
    port: 0,
  });
});
after(() => server.close());

/** POST a JSON body (or a raw string) and return the status and parsed answer. */
async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = { 'Content-Type': 'application/json' },
): Promise<{ status: number; json: Record<string, unknown>; type: string; text: string }> {
  const r = await fetch(new URL(path, server.url), {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  const type = r.headers.get('content-type') ?? '';
  return { status: r.status, json: type.includes('json') ? JSON.parse(text) : {}, type, text };
}

test('binds 127.0.0.1 by default; each directory is loaded once', async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal((server.server.address() as { address: string }).address, '127.0.0.1');
  const r = await fetch(new URL('/api/models', server.url));
  const { models } = (await r.json()) as { models: { name: string; task: string }[] };
  assert.deepEqual(
    models.map((m) => [m.name, m.task]),
    [
      ['tr', 'translate'],
      ['lm', 'lm'],
      ['cl', 'classify'],
    ],
  );
});

test('translate, generate and classify answer what the library computes', async () => {
  const tr = loadTranslator(dirs.translate);
  const t = await post('/api/translate', { text: ['ich bin hier', 'er ist da'], beam: 2 });
  assert.equal(t.status, 200);
  assert.deepEqual(t.json.translations, tr.translate(['ich bin hier', 'er ist da'], { beam: 2 }));
  const lm = loadLanguageModel(dirs.lm);
  const o = { maxTokens: 15, temperature: 0.9, seed: 4 };
  const g = await post('/api/generate', { text: 'to be', model: 'lm', ...o });
  assert.equal(g.json.text, lm.generate('to be', o));
  const cl = loadClassifier(dirs.classify);
  const c = await post('/api/classify', { text: 'loved it', model: 'cl' });
  const [want] = cl.classify(['loved it']);
  const [got] = c.json.predictions as { label: string; score: number; scores: object }[];
  assert.equal(got.label, want.label);
  assert.ok(Math.abs(got.score - want.probability) < 1e-6);
  assert.deepEqual(Object.keys(got.scores).sort(), [...cl.labels].sort());
});

test('streams are server-sent events whose tokens join to the non-streamed text', async () => {
  const tr = loadTranslator(dirs.translate);
  const [text, greedy] = longestGreedy(tr, 20);
  const t = await post('/api/translate', { text, stream: true, maxLen: 20 });
  assert.equal(t.status, 200);
  assert.match(t.type, /^text\/event-stream/);
  const events = parseEvents(t.text);
  const tokens = events.filter((e) => e.event === 'message').map((e) => e.data.token);
  const done = events.at(-1)!;
  assert.equal(done.event, 'done');
  assert.equal(tokens.join(''), greedy);
  assert.equal(done.data.text, greedy);
  assert.ok(tokens.length > 1, `${tokens.length} events`);

  const lm = loadLanguageModel(dirs.lm);
  const accept = { 'Content-Type': 'application/json', Accept: 'text/event-stream' };
  const g = await post('/api/generate', { text: 'to', model: 'lm', maxTokens: 25 }, accept);
  const ge = parseEvents(g.text);
  const pieces = ge.filter((e) => e.event === 'message').map((e) => e.data.token);
  const full = lm.generate('to', { maxTokens: 25 });
  assert.equal('to' + pieces.join(''), full);
  assert.equal(ge.at(-1)!.data.text, full);
});

test('a client that leaves a stream stops it; the model is served again at once', async () => {
  const lm = loadLanguageModel(dirs.lm);
  const abort = new AbortController();
  const r = await fetch(new URL('/api/generate', server.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text: 'to', model: 'lm', maxTokens: 1000, stream: true }),
    signal: abort.signal,
  });
  const reader = r.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /^data: \{"token":/);
  abort.abort();
  const g = await post('/api/generate', { text: 'to be', model: 'lm', maxTokens: 5, seed: 1 });
  assert.equal(g.status, 200);
  assert.equal(g.json.text, lm.generate('to be', { maxTokens: 5, seed: 1 }));
});

test('attention: every layer and head, as attentionSections computes them', async () => {
  const tr = loadTranslator(dirs.translate);
  const a = await post('/api/attention', { text: 'ich bin hier', target: 'i am here' });
  assert.equal(a.status, 200, a.text);
  const want = attentionSections(tr, 'ich bin hier', { target: 'i am here' });
  type Sec = { name: string; rowTokens: string[]; maps: { values: number[]; rows: number }[] };
  const got = a.json.sections as Sec[];
  assert.deepEqual(
    got.map((s) => s.name),
    want.map((s) => s.name),
  );
  const { numEncoderLayers, nhead } = tr.model.config as {
    numEncoderLayers: number;
    nhead: number;
  };
  assert.equal(got[0].maps.length, numEncoderLayers * nhead);
  got.forEach((s, i) =>
    s.maps.forEach((m, j) =>
      m.values.forEach((v, k) => assert.ok(Math.abs(v - want[i].maps[j].weights[k]) <= 5e-5)),
    ),
  );
  const causal = got[1].maps[0]; // decoder self-attention: nothing above the diagonal
  for (let r = 0; r < causal.rows; r++)
    for (let c = r + 1; c < causal.rows; c++) assert.equal(causal.values[r * causal.rows + c], 0);
  const pe = a.json.positional as { rows: number; cols: number; values: number[] };
  const table = sinusoidTable(pe.rows, pe.cols).f32; // dModel <= 128: every dimension
  pe.values.forEach((v, k) => assert.ok(Math.abs(v - table[k]) <= 5e-5));
  const mask = a.json.mask as { rows: number; values: number[] };
  assert.equal(mask.rows, got[1].rowTokens.length);
  assert.deepEqual(mask.values.slice(0, mask.rows), [0, ...Array(mask.rows - 1).fill(1)]);
  const c = await post('/api/attention', { text: 'great movie', model: 'cl' });
  assert.match((c.json.mask as { title: string }).title, /no mask/);
});

test('bad requests get 4xx JSON errors and the server keeps serving', async () => {
  const cases: [string, unknown, number, RegExp, Record<string, string>?][] = [
    ['/api/translate', '{"text": "ich', 400, /malformed JSON/],
    ['/api/translate', { text: 'x'.repeat(70_000) }, 413, /larger than the limit/],
    ['/api/translate', { text: 'x'.repeat(9_000) }, 200, /./],
    [
      '/api/translate',
      'text=hallo',
      415,
      /Content-Type: application\/json/,
      { 'Content-Type': 'text/plain' },
    ],
    ['/api/translate', [1, 2], 400, /must be a JSON object/],
    [
      '/api/translate',
      { text: 'hallo', model: 'nope' },
      404,
      /unknown model 'nope' \(models: tr, lm, cl\)/,
    ],
    ['/api/translate', { text: 'hallo', model: 'lm' }, 400, /'lm' model: use POST \/api\/generate/],
    ['/api/translate', { text: '' }, 400, /"text" must be a non-empty string/],
    [
      '/api/translate',
      { text: 'hallo', beam: 0 },
      400,
      /"beam" must be an integer in \[1, 16\], got 0/,
    ],
    ['/api/translate', { text: 'hallo', colour: 'red' }, 400, /unknown field\(s\) colour/],
    ['/api/translate', { text: ['a', 'b'], stream: true }, 400, /"stream" takes one text/],
    ['/api/generate', { text: 'to', model: 'lm', topP: 2 }, 400, /"topP" must be a number/],
    [
      '/api/attention',
      { text: 'to', model: 'lm', target: 'x' },
      400,
      /"target" applies to translation/,
    ],
    ['/api/summarize', {}, 404, /unknown endpoint POST \/api\/summarize/],
  ];
  for (const [path, body, status, message, headers] of cases) {
    const r = await post(path, body, headers);
    assert.equal(
      r.status,
      status,
      `${path} ${JSON.stringify(body).slice(0, 60)}: ${r.text.slice(0, 200)}`,
    );
    if (status !== 200) assert.match(String(r.json.error), message);
  }
  const get = await fetch(new URL('/api/translate', server.url));
  assert.equal(get.status, 404);
  assert.match(((await get.json()) as { error: string }).error, /unknown endpoint GET/);
  // The page's in-browser mode may fetch a model's four files and nothing else.
  for (const [path, status] of [
    ['/models/tr/config.json', 200],
    ['/models/tr/metrics.jsonl', 404],
    ['/models/tr/..%2Fpairs.tsv', 404],
    ['/models/nope/config.json', 404],
  ] as const) {
    const r = await fetch(new URL(path, server.url));
    assert.equal(r.status, status, path);
  }
  const ok = await post('/api/translate', { text: 'ich bin hier', beam: 1 });
  assert.equal(ok.status, 200);
});

test('`transformer serve` names a missing model directory and a port in use', async () => {
  const missing = await cli(['serve', '--model', '/nonexistent/model-dir', '--port', '0']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /--model: '\/nonexistent\/model-dir' does not exist/);
  const port = String(new URL(server.url).port);
  const busy = await cli(['serve', '--model', dirs.lm, '--port', port]);
  assert.equal(busy.code, 1);
  assert.match(busy.err, new RegExp(`cannot listen on 127.0.0.1:${port}: .*EADDRINUSE`));
});
