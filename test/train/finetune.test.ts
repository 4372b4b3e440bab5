/**
 * Initialization and fine-tuning controls (issue #18): --init-embeddings copies the file's
 * vectors into the matching token rows (coverage printed, dimension mismatch refused with
 * both dimensions), frozen parameters stay bit-for-bit unchanged through training steps,
 * and layer-wise learning-rate decay gives each optimizer group lr gamma^(L - l), which the
 * optimizers apply.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator } from '../../src/random.js';
import { tensor, Tensor } from '../../src/tensor.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { AdamW, SGD } from '../../src/train/optim.js';
import { fineTuneGroups, freezeParameters, stackDepth } from '../../src/train/finetune.js';
import { loadClassifier } from '../../src/tasks/classify.js';
import { trainBPE } from '../../src/tokenizers/index.js';
import { initEmbeddingRows } from '../../src/vectors/init-embeddings.js';
import { WordVectors } from '../../src/vectors/word-vectors.js';
import { eachBackend } from '../helpers.js';
import { classifyTsv, cli, tmp } from '../cli/in-process.js';

/** word2vec text vectors for a few words (one not in any text), width `dim`. */
function vectorsFile(dir: string, dim: number): { path: string; vectors: WordVectors } {
  const g = new Generator(5);
  const words = ['great', 'movie', 'hated', 'Terrible', 'absent'];
  const vectors = new WordVectors(
    words,
    Float32Array.from({ length: words.length * dim }, () => Number(g.normal().toPrecision(7))),
    dim,
  );
  const path = join(dir, 'v.txt');
  vectors.save(path, 'text');
  return { path, vectors: WordVectors.load(path) };
}

test('initEmbeddingRows: matching rows equal the vectors, the others unchanged', () => {
  const tok = trainBPE(
    ['great movie', 'hated it', 'terrible film'].flatMap((t) => Array(5).fill(t)),
    {
      vocabSize: 300,
    },
  );
  const { vectors } = vectorsFile(tmp(), 8);
  const w = new Tensor(new Float32Array(tok.vocabSize * 8).fill(7), [tok.vocabSize, 8]);
  const r = initEmbeddingRows(w, tok, vectors);
  const byWord = new Map(r.matches.map((m) => [m.word, m.id]));
  // ' great' -> great; ' terrible' matches 'Terrible' only if the exact form is absent: lowercase fallback is one-way
  for (const word of ['great', 'movie', 'hated']) {
    const id = byWord.get(word);
    assert.ok(id !== undefined, `${word} matched`);
    assert.deepEqual(w.f32.subarray(id * 8, id * 8 + 8), vectors.vector(word));
  }
  assert.equal(r.initialized, r.matches.length);
  assert.equal(r.rows, tok.vocabSize);
  const touched = new Set(r.matches.map((m) => m.id));
  for (let id = 0; id < tok.vocabSize; id++)
    if (!touched.has(id)) assert.ok(w.f32.subarray(id * 8, id * 8 + 8).every((v) => v === 7));
  assert.throws(
    () =>
      initEmbeddingRows(
        new Tensor(new Float32Array(tok.vocabSize * 4), [tok.vocabSize, 4]),
        tok,
        vectors,
      ),
    /--init-embeddings: the vectors have dimension 8 but the model's token embedding has width d_model 4/,
  );
});

test('train --init-embeddings --freeze-embeddings: rows equal the file after training steps', async () => {
  const dir = tmp();
  const data = classifyTsv(dir);
  const { path, vectors } = vectorsFile(dir, 32); // the tiny preset's d_model
  const out = join(dir, 'model');
  const args = ['train', '--task', 'classify', '--data', data, '--preset', 'tiny', '--steps', '3'];
  const r = await cli([
    ...args,
    '--batch-tokens',
    '64',
    '--out',
    out,
    '--init-embeddings',
    path,
    '--freeze-embeddings',
  ]);
  assert.equal(r.code, 0, r.err);
  const m = /initialized (\d+) of (\d+) token embedding rows/.exec(r.err);
  assert.ok(m, r.err);
  const { model, tokenizer } = loadClassifier(out);
  assert.equal(Number(m[2]), tokenizer.vocabSize);
  const w = model.tokEmb.weight;
  const C = 32;
  let seen = 0;
  for (const word of ['great', 'movie', 'hated']) {
    const id =
      tokenizer.encode(` ${word}`).length === 1
        ? tokenizer.encode(` ${word}`)[0]
        : tokenizer.encode(word)[0];
    assert.deepEqual(w.f32.subarray(id * C, (id + 1) * C), vectors.vector(word), word);
    seen++;
  }
  assert.ok(Number(m[1]) >= seen);
  const wide = join(dir, 'c.json');
  writeFileSync(wide, '{"dModel": 48, "nhead": 2}');
  const e = await cli([
    ...args,
    '--out',
    join(dir, 'm3'),
    '--config',
    wide,
    '--init-embeddings',
    path,
  ]);
  assert.equal(e.code, 1);
  assert.match(
    e.err,
    /the vectors have dimension 32 but the model's token embedding has width d_model 48/,
  );
  const f = await cli([...args, '--out', join(dir, 'm4'), '--freeze-embeddings']);
  assert.match(f.err, /--freeze-embeddings: needs --init-embeddings FILE or --init DIR/);
  const t = await cli([
    'train',
    '--task',
    'translate',
    '--init-embeddings',
    path,
    '--out',
    join(dir, 'm5'),
  ]);
  assert.match(t.err, /--init-embeddings does not apply to --task translate/);
});

/** A 3-layer classifier and a batch. */
function small(): { model: EncoderClassifier; ids: Tensor; y: Tensor } {
  const model = new EncoderClassifier(
    {
      vocabSize: 20,
      numClasses: 2,
      numLayers: 3,
      dModel: 16,
      nhead: 2,
      dimFeedforward: 32,
      dropout: 0,
    },
    new Generator(2),
  );
  const ids = tensor(
    [
      [1, 5, 6, 7],
      [1, 8, 9, 0],
    ],
    undefined,
    'int32',
  );
  return { model, ids, y: tensor(Int32Array.of(0, 1), [2]) };
}

test('freezeParameters: frozen tensors unchanged after AdamW steps, the others change', () => {
  eachBackend(() => {
    const { model, ids, y } = small();
    const frozen = new Set(freezeParameters(model, { layers: 2, numLayers: 3 }));
    assert.ok(frozen.has('tok_emb.weight') && frozen.has('encoder.layers.1.linear1.weight'));
    assert.ok(!frozen.has('encoder.layers.2.linear1.weight') && !frozen.has('classifier.weight'));
    const before = new Map(model.namedParameters().map(([n, p]) => [n, p.f32.slice()]));
    const opt = new AdamW(fineTuneGroups(model, 0.01, { numLayers: 3 }), { lr: 1e-2 });
    for (let s = 0; s < 3; s++) {
      opt.zeroGrad();
      model.trainingLoss(ids, y).backward();
      opt.step();
    }
    for (const [n, p] of model.namedParameters()) {
      const same = p.f32.every((v, i) => v === before.get(n)![i]);
      if (frozen.has(n)) assert.ok(same, `${n} frozen`);
      else if (n !== 'pos_emb.weight') assert.ok(!same, `${n} trained`);
    }
    assert.throws(
      () => freezeParameters(model, { layers: 4, numLayers: 3 }),
      /--freeze-layers: must be an integer in \[0, 3\]/,
    );
  });
});

test('fineTuneGroups: layer l at gamma^(L - l), embeddings gamma^L, head 1; the optimizer applies it', () => {
  const { model } = small();
  const gamma = 0.5;
  const groups = fineTuneGroups(model, 0.01, { layerLrDecay: gamma, numLayers: 3 });
  const scaleOf = new Map<Tensor, number>();
  for (const g of groups) for (const p of g.params) scaleOf.set(p, g.lrScale!);
  const want = (name: string): number => {
    if (/^(tok_emb|pos_emb)\./.test(name)) return gamma ** 3;
    const m = /^encoder\.layers\.(\d+)\./.exec(name);
    return m ? gamma ** (3 - (Number(m[1]) + 1)) : 1;
  };
  for (const [n, p] of model.namedParameters()) assert.equal(scaleOf.get(p), want(n), n);
  assert.deepEqual(
    ['pos_emb.weight', 'encoder.layers.2.norm1.bias', 'encoder.norm.weight'].map(stackDepth),
    [0, 3, null],
  );
  assert.equal(
    scaleOf.get(model.namedParameters().find(([n]) => n === 'encoder.layers.0.linear1.weight')![1]),
    0.25,
  );
  // decay groups keep their weight decay: biases none, matrices 0.01
  for (const g of groups)
    for (const p of g.params)
      assert.equal(g.weightDecay, p.ndim >= 2 && p !== model.tokEmb.weight ? 0.01 : 0);
  // SGD applies lr x lrScale: p -= 0.1 * 0.25 * grad
  const p = new Tensor(Float32Array.of(1, 2), [2]).requiresGrad_();
  const q = new Tensor(Float32Array.of(1, 2), [2]).requiresGrad_();
  p.grad = new Tensor(Float32Array.of(1, 1), [2]);
  q.grad = new Tensor(Float32Array.of(1, 1), [2]);
  new SGD([{ params: [p], lrScale: 0.25 }, { params: [q] }], { lr: 0.1 }).step();
  assert.deepEqual([...p.f32], [1 - 0.025, 2 - 0.025].map(Math.fround));
  assert.deepEqual([...q.f32], [1 - 0.1, 2 - 0.1].map(Math.fround));
  assert.throws(
    () => fineTuneGroups(model, 0, { layerLrDecay: 1.5, numLayers: 3 }),
    /--layer-lr-decay: must be in \(0, 1\]/,
  );
});
