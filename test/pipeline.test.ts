/**
 * pipeline() (transformers.js's API) and streaming (issue #16, "Library ergonomics"): each
 * pipeline's output equals what the CLI prints for the same decoding options, in
 * transformers.js's output shapes; streamed pieces join to the non-streamed text; the text
 * streamer never hands out half a UTF-8 character; a stream left early restores the model.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  TextStreamer,
  generateStream,
  loadLanguageModel,
  loadTranslator,
  pipeline,
  trainBPE,
} from '../src/index.js';
import { cli, lmText, lmTrain, tinyModels, tmp } from './cli/in-process.js';

const dirs = { lm: '', translate: '', classify: '' };
before(async () => Object.assign(dirs, await tinyModels(['lm', 'translate', 'classify'], 3)));

/** Join an async iterator's pieces. */
async function join_(pieces: AsyncIterable<string>): Promise<{ text: string; count: number }> {
  let text = '';
  let count = 0;
  for await (const p of pieces) {
    text += p;
    count++;
  }
  return { text, count };
}

test('translation pipeline: [{ translation_text }] equal to `transformer translate`', async () => {
  const translator = await pipeline('translation', dirs.translate);
  assert.equal(translator.task, 'translation');
  const greedy = await cli(['translate', '--model', dirs.translate, '--beam', '1', 'du bist da']);
  assert.deepEqual(await translator('du bist da'), [{ translation_text: greedy.out.trim() }]);
  const beam = await cli(['translate', '--model', dirs.translate, 'ich bin hier', 'er ist da']);
  const out = await translator(['ich bin hier', 'er ist da'], { num_beams: 4 });
  assert.deepEqual(
    out,
    beam.out
      .trim()
      .split('\n')
      .map((translation_text) => ({ translation_text })),
  );
});

test('text-generation pipeline: [{ generated_text }] equal to `transformer generate`', async () => {
  const generator = await pipeline('text-generation', dirs.lm);
  const args = ['generate', '--model', dirs.lm, '--prompt', 'to be', '--max-tokens', '12'];
  const greedy = await cli([...args, '--temperature', '0']);
  assert.deepEqual(await generator('to be', { max_new_tokens: 12 }), [
    { generated_text: greedy.out.slice(0, -1) },
  ]);
  const sampled = await cli([...args, '--seed', '3']); // temperature 0.8, all tokens
  const o = { max_new_tokens: 12, do_sample: true, temperature: 0.8, top_k: 0, seed: 3 };
  const [[a], [b]] = await generator(['to be', 'to be'], o);
  assert.equal(a.generated_text + '\n', sampled.out);
  assert.equal(b.generated_text, a.generated_text);
  const [tail] = await generator('to be', { ...o, return_full_text: false });
  assert.equal('to be' + tail.generated_text + '\n', sampled.out);
  await assert.rejects(generator('to be', { num_beams: 2 }), /num_beams must be 1/);
});

test('text-classification pipeline: [{ label, score }] equal to `transformer classify`', async () => {
  const classifier = await pipeline('text-classification', dirs.classify);
  const texts = ['great movie', 'hated it'];
  const c = await cli(['classify', '--model', dirs.classify, ...texts]);
  const out = (await classifier(texts)) as { label: string; score: number }[];
  assert.deepEqual(
    out.map((r) => `${r.label}\t${r.score.toFixed(4)}`),
    c.out.trim().split('\n'),
  );
  // One text alone is a batch of one: equal to a batch of two up to rounding.
  const [alone] = (await classifier('great movie')) as { label: string; score: number }[];
  assert.equal(alone.label, out[0].label);
  assert.ok(Math.abs(alone.score - out[0].score) < 1e-6);
  const both = (await classifier('great movie', { top_k: 2 })) as { score: number }[];
  assert.equal(both.length, 2);
  assert.deepEqual(both[0], alone);
  assert.ok(both[0].score >= both[1].score);
  assert.ok(Math.abs(both[0].score + both[1].score - 1) < 1e-6);
  const alias = await pipeline('sentiment-analysis', dirs.classify);
  assert.deepEqual(await alias(texts), out);
  await assert.rejects(
    pipeline('text-classification', dirs.lm),
    /holds a 'lm' model; the 'text-classification' pipeline needs a 'classify' model/,
  );
  await assert.rejects(
    pipeline('summarization' as 'translation', dirs.lm),
    /unknown task 'summarization'/,
  );
});

test('streamed pieces join to the non-streamed text (lm, translation, CLI --stream)', async () => {
  const lm = loadLanguageModel(dirs.lm);
  const o = { maxTokens: 40, temperature: 1, seed: 5 };
  const streamed = await join_(lm.generateStream('to', o));
  assert.equal('to' + streamed.text, lm.generate('to', o));
  assert.ok(streamed.count > 1, `${streamed.count} pieces`);
  const greedy = await join_(generateStream(lm, 'to', { max_new_tokens: 20 }));
  assert.equal('to' + greedy.text, lm.generate('to', { maxTokens: 20, temperature: 0 }));

  const tr = loadTranslator(dirs.translate);
  for (const text of ['ich bin hier', 'wir sind da', 'sie']) {
    const s = await join_(tr.translateStream(text, { maxLen: 30 }));
    assert.equal(s.text, tr.translate([text], { beam: 1, maxLen: 30 })[0]);
    const b = await join_(generateStream(tr, text, { num_beams: 3 }));
    assert.equal(b.text, tr.translate([text], { beam: 3 })[0]);
  }
  assert.throws(() => tr.translateStream(''), /the input is empty/);

  const args = ['generate', '--model', dirs.lm, '--prompt', 'to', '--max-tokens', '30'];
  const plain = await cli(args);
  const live = await cli([...args, '--stream']);
  assert.equal(live.code, 0, live.err);
  assert.equal(live.out, plain.out);
});

test('a Transformer-XL language model streams what it generates', async () => {
  const d = tmp();
  const r = await cli(lmTrain(lmText(d), join(d, 'xl'), '--steps', '2', '--mem-len', '8'));
  assert.equal(r.code, 0, r.err);
  const xl = loadLanguageModel(join(d, 'xl'));
  assert.equal(xl.model.constructor.name, 'TransformerXL');
  const o = { maxTokens: 20, temperature: 1, seed: 7 };
  assert.equal('to' + (await join_(xl.generateStream('to', o))).text, xl.generate('to', o));
});

test('TextStreamer holds back half characters and trims like translate', () => {
  const tok = trainBPE(['plain ascii words only'], { vocabSize: 300 });
  const text = 'grüße €5 😀 ok ';
  const ids = tok.encode(text);
  assert.ok(ids.length > [...text].length, 'multi-byte characters span several tokens');
  const s = new TextStreamer(tok);
  const pieces = ids.map((id) => s.push(id));
  pieces.push(s.flush());
  for (const p of pieces) assert.ok(!p.includes('\uFFFD'), JSON.stringify(pieces));
  assert.equal(pieces.join(''), tok.decode(ids));
  const trimmed = new TextStreamer(tok, true);
  const t = [...tok.encode('  hi there  ').map((id) => trimmed.push(id)), trimmed.flush()];
  assert.equal(t.join(''), 'hi there');
  assert.ok(!t.slice(0, -1).join('').endsWith(' '), 'trailing space held back');
});

test('leaving a stream early restores the training flag', async () => {
  const lm = loadLanguageModel(dirs.lm);
  const tr = loadTranslator(dirs.translate);
  for (const [m, pieces] of [
    [lm.model, lm.generateStream('to', { maxTokens: 30 })],
    [tr.model, tr.translateStream('ich bin hier', { maxLen: 30 })],
  ] as const) {
    m.train(true);
    for await (const _piece of pieces) {
      assert.equal(m.training, false, 'eval mode while streaming');
      break;
    }
    assert.equal(m.training, true);
    m.eval();
  }
});
