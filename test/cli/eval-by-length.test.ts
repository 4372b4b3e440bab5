// `transformer eval --by-length`: per-bucket BLEU and counts beside the overall BLEU, equal to
// bleuByLength on the model's own translations of the same sentences.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readParallelTsv } from '../../src/data/index.js';
import { bleuByLength, corpusBleu } from '../../src/metrics/index.js';
import { translateTexts } from '../../src/tasks/translate.js';
import { cli, tinyTrain, tmp, translateTsv } from './in-process.js';

test('eval --by-length adds bleu_<bucket> and sentences_<bucket>', async () => {
  const dir = tmp();
  const data = translateTsv(dir, 40);
  const model = join(dir, 'm');
  const t = await cli(tinyTrain('translate', data, model, '--steps', '2'));
  assert.equal(t.code, 0, t.err);
  const evalArgs = ['eval', '--model', model, '--data', data, '--beam', '1', '--json'];
  const r = await cli([...evalArgs, '--by-length']);
  assert.equal(r.code, 0, r.err);
  const got = JSON.parse(r.out) as Record<string, number | string>;
  const pairs = readParallelTsv(data);
  const hyps = translateTexts(
    model,
    pairs.map((p) => p.source),
    { beam: 1, maxLen: 100 },
  );
  const want = bleuByLength(
    pairs.map((p) => p.source),
    hyps,
    [pairs.map((p) => p.target)],
  );
  for (const b of want) {
    assert.equal(got[`sentences_${b.label}`], b.count, b.label);
    assert.equal(got[`bleu_${b.label}`], b.bleu ? b.bleu.score : '-', b.label);
  }
  assert.equal(got['sentences_1-5'], 40);
  const plain = await cli(evalArgs);
  assert.ok(!('bleu_1-5' in JSON.parse(plain.out)));
});

test('eval --length-penalty reaches beam search: the BLEU of translateTexts with that alpha', async () => {
  const dir = tmp();
  const data = translateTsv(dir, 30);
  const model = join(dir, 'm');
  const t = await cli(tinyTrain('translate', data, model, '--steps', '60'));
  assert.equal(t.code, 0, t.err);
  const pairs = readParallelTsv(data);
  const refs = [pairs.map((p) => p.target)];
  const signatures: string[] = [];
  for (const alpha of [0, 2]) {
    const r = await cli(
      ['eval', '--model', model, '--data', data, '--beam', '3'].concat([
        '--length-penalty',
        String(alpha),
        '--json',
      ]),
    );
    assert.equal(r.code, 0, r.err);
    const got = JSON.parse(r.out) as { bleu: number; length_penalty: number; signature: string };
    assert.equal(got.length_penalty, alpha);
    const hyps = translateTexts(
      model,
      pairs.map((p) => p.source),
      { beam: 3, maxLen: 100, lengthPenalty: alpha },
    );
    const want = corpusBleu(hyps, refs);
    assert.equal(got.bleu, want.score, `alpha ${alpha}`);
    assert.equal(got.signature, want.format(), `alpha ${alpha}`);
    signatures.push(got.signature);
  }
  // The two alphas decode to different lengths here (alpha 2 favours long outputs), so an
  // option that did not reach the beam search could not pass both comparisons.
  assert.notEqual(signatures[0], signatures[1]);
  const bad = await cli(['eval', '--model', model, '--data', data, '--length-penalty', '-1']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--length-penalty/);
});
