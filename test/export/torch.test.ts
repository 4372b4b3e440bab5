/**
 * `transformer export --format torch` without PyTorch: modeling.py's state-dict names (read
 * off the generated Python) equal our models' for each kind and config; unsupported options
 * are refused by name; the export writes its files, our recipe and batches that round-trip;
 * and checkpoints PyTorch wrote through modeling.py (fixtures from
 * scripts/make_torch_export_fixtures.ts) load into our models and give PyTorch's logits.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecoderLM,
  EncoderClassifier,
  Generator,
  Seq2SeqTransformer,
  loadModel,
  noGrad,
  tensor,
  type Module,
  type Tensor,
} from '../../src/index.js';
import {
  batchLoss,
  exportTorch,
  modelingPython,
  readBatches,
  torchKindOf,
} from '../../src/export/torch/index.js';
import { saveModelDir, type ModelDirConfig } from '../../src/tasks/modeldir.js';
import { trainCharTokenizer } from '../../src/tokenizers/index.js';
import { encodeChunks } from '../../src/tokenizers/index.js';
import { lmTrainBatch } from '../../src/tasks/lm.js';
import { trainRecipe } from '../../src/train/recipe.js';
import { assertClose, eachBackend } from '../helpers.js';
import { cli, lmText, tmp } from '../cli/in-process.js';

/** Parameters of the torch leaf modules modeling.py uses. */
const LEAVES: Record<string, (args: string) => string[]> = {
  'nn.Linear': (a) => (/bias\s*=\s*False/.test(a) ? ['weight'] : ['weight', 'bias']),
  'nn.Embedding': () => ['weight'],
  'nn.LayerNorm': () => ['weight', 'bias'],
  'nn.Dropout': () => [],
};

/**
 * The state_dict names of class `root` in a modeling.py, read off its `__init__` lines
 * (`self.x = nn.Linear(...)`, `self.x = nn.Parameter(...)`, `self.x = Class(cfg)`,
 * `self.x = nn.ModuleList([Class(cfg) for _ in range(N)])`, `self.x = None`), in
 * registration order: own parameters first, then children (torch's state_dict order).
 */
function stateDictNames(py: string, root: string): string[] {
  const classes = new Map<string, string[]>();
  for (const m of py.matchAll(/^class (\w+)\([\w.]+\):\n((?:(?: {4}.*)?\n)*)/gm)) {
    const init = /def __init__\(self[^)]*\):\n((?: {8}.*\n)*)/.exec(m[2]);
    classes.set(m[1], init ? init[1].split('\n') : []);
  }
  const names = (cls: string): string[] => {
    const body = classes.get(cls);
    if (!body) throw new Error(`modeling.py has no class ${cls}`);
    const own: string[] = [];
    const children: string[] = [];
    for (const line of body) {
      const a = /^\s+self\.(\w+) = (.*)$/.exec(line);
      if (!a) continue;
      const [, name, expr] = a;
      const call = /^([\w.]+)\((.*)\)/.exec(expr);
      if (!call) continue; // None, a value (self.cfg = cfg)
      const [, fn, args] = call;
      if (fn === 'nn.Parameter') own.push(name);
      else if (fn in LEAVES) children.push(...LEAVES[fn](args).map((p) => `${name}.${p}`));
      else if (fn === 'nn.ModuleList') {
        const list = /^\[(\w+)\(.*\) for _ in range\((\d+)\)\]$/.exec(args);
        assert.ok(list, `unparsed ModuleList: ${line}`);
        for (let i = 0; i < Number(list[2]); i++)
          children.push(...names(list[1]).map((p) => `${name}.${i}.${p}`));
      } else if (classes.has(fn)) children.push(...names(fn).map((p) => `${name}.${p}`));
    }
    return [...own, ...children];
  };
  return names(root);
}

const dirConfigOf = (task: ModelDirConfig['task'], model: Module & { config: object }) => ({
  task,
  model: model.constructor.name,
  config: { ...model.config } as Record<string, unknown>,
});

describe('modeling.py state-dict names equal ours', () => {
  const gen = new Generator(1);
  const small = { dModel: 8, nhead: 2, dimFeedforward: 16 };
  const cases: [string, ModelDirConfig['task'], Module & { config: object }][] = [
    [
      'lm, learned positions',
      'lm',
      new DecoderLM({ ...small, vocabSize: 7, blockSize: 6, numLayers: 3 }, gen),
    ],
    [
      'lm, sinusoidal positions, post-LN, relu',
      'lm',
      new DecoderLM(
        {
          ...small,
          vocabSize: 7,
          blockSize: 6,
          numLayers: 1,
          position: 'sinusoidal',
          normFirst: false,
          activation: 'relu',
        },
        gen,
      ),
    ],
    [
      'seq2seq, tied',
      'translate',
      new Seq2SeqTransformer(
        { ...small, srcVocabSize: 9, tgtVocabSize: 9, numEncoderLayers: 2, numDecoderLayers: 3 },
        gen,
      ),
    ],
    [
      'seq2seq, untied, pre-LN',
      'translate',
      new Seq2SeqTransformer(
        {
          ...small,
          srcVocabSize: 9,
          tgtVocabSize: 5,
          numEncoderLayers: 1,
          numDecoderLayers: 1,
          tieWeights: false,
          normFirst: true,
        },
        gen,
      ),
    ],
    [
      'classifier, pre-LN (final norm)',
      'classify',
      new EncoderClassifier({ ...small, vocabSize: 9, numClasses: 3, numLayers: 2 }, gen),
    ],
    [
      'classifier, post-LN, learned positions, cls pooling',
      'classify',
      new EncoderClassifier(
        {
          ...small,
          vocabSize: 9,
          numClasses: 2,
          numLayers: 2,
          normFirst: false,
          position: 'learned',
          pooling: 'cls',
        },
        gen,
      ),
    ],
  ];
  for (const [what, task, model] of cases)
    test(what, () => {
      const cfg = dirConfigOf(task, model);
      const py = modelingPython(cfg);
      assert.deepEqual(stateDictNames(py, cfg.model), [...model.stateDict().keys()]);
      assert.match(py, /^CONFIG = \{\n {4}"task": /m);
    });

  test('the parser sees a final norm taken away (the comparison can fail)', () => {
    const m = new EncoderClassifier({ ...small, vocabSize: 9, numClasses: 3, numLayers: 1 }, gen);
    const py = modelingPython(dirConfigOf('classify', m)).replace(
      /self\.norm = nn\.LayerNorm\(cfg\.dModel, eps=cfg\.layerNormEps\)/,
      'self.norm = None',
    );
    assert.notDeepEqual(stateDictNames(py, 'EncoderClassifier'), [...m.stateDict().keys()]);
  });
});

describe('torch export refuses what modeling.py does not implement', () => {
  const base: ModelDirConfig = {
    task: 'lm',
    model: 'DecoderLM',
    config: { vocabSize: 5, blockSize: 4, dModel: 8, nhead: 2, numLayers: 1 },
  };
  test('the supported kinds pass', () => assert.equal(torchKindOf(base), 'lm'));
  for (const [key, value] of [
    ['attention', 'local:window=4'],
    ['norm', 'rms'],
    ['position', 'rope'],
    ['heads', 'multi-query'],
    ['depth', 'universal:max-steps=2'],
  ] as const)
    test(`${key} = ${value}`, () =>
      assert.throws(
        () => torchKindOf({ ...base, config: { ...base.config, [key]: value } }),
        new RegExp(`${key} = "${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" is not supported`),
      ));
  test('other model classes', () =>
    assert.throws(
      () => torchKindOf({ ...base, model: 'TransformerXL' }),
      /'TransformerXL' is not supported/,
    ));
});

describe('torch export of a model directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'torch-export-'));
  const text =
    'to be, or not to be, that is the question: whether tis nobler in the mind to suffer\n'.repeat(
      8,
    );
  const dataFile = join(dir, 'text.txt');
  writeFileSync(dataFile, text);
  const tok = trainCharTokenizer([text]);
  const model = new DecoderLM(
    { vocabSize: tok.vocabSize, blockSize: 8, dModel: 8, nhead: 2, numLayers: 1, dropout: 0 },
    new Generator(3),
  );
  const modelDir = join(dir, 'model');
  mkdirSync(modelDir);
  saveModelDir(
    modelDir,
    { task: 'lm', model: 'DecoderLM', config: { ...model.config } },
    model,
    tok,
  );
  const out = join(dir, 'out');
  const r = exportTorch({
    model: modelDir,
    out,
    data: dataFile,
    seed: 5,
    batchSize: 3,
    steps: 4,
    nproc: 2,
    firstStep: 7,
  });

  test('writes modeling.py, train_ddp.py, the recipe, the batches and the model directory', () => {
    for (const f of [
      'modeling.py',
      'train_ddp.py',
      'train_config.json',
      'train_batches.safetensors',
      'config.json',
      'model.safetensors',
      'tokenizer.json',
    ])
      assert.ok(existsSync(join(out, f)), f);
    assert.equal(r.kind, 'lm');
    assert.match(readFileSync(join(out, 'train_ddp.py'), 'utf8'), /DistributedDataParallel/);
  });

  test("train_config.json is train's recipe for the run's steps", () => {
    const cfg = JSON.parse(readFileSync(join(out, 'train_config.json'), 'utf8'));
    const want = trainRecipe('lm', 4);
    assert.deepEqual(cfg.optimizer, want.optimizer);
    assert.deepEqual(cfg.schedule, want.schedule);
    assert.equal(cfg.steps, 4);
    assert.equal(cfg.labelSmoothing, 0);
  });

  test("the batches round-trip: steps x nproc batches, our steps' windows of the train split", () => {
    const { batches, metadata } = readBatches(join(out, 'train_batches.safetensors'));
    assert.equal(batches.length, 8);
    assert.equal(metadata.first_step, '7');
    const all = encodeChunks(tok, [text]);
    const train = all.subarray(0, Math.floor(all.length * 0.9));
    batches.forEach((b, j) => {
      const want = lmTrainBatch(train, 3, 8, 5, 7 + j, 0);
      assert.deepEqual([...b.x.shape], [3, 8]);
      assert.deepEqual([...b.x.i32], [...want.x.i32], `batch ${j} x`);
      assert.deepEqual([...b.y.i32], [...want.y.i32], `batch ${j} y`);
    });
    // y is x shifted by one within the text
    assert.deepEqual([...batches[0].y.i32.subarray(0, 7)], [...batches[0].x.i32.subarray(1, 8)]);
  });

  test('batchLoss is the cross-entropy of the batch', () => {
    const { batches } = readBatches(join(out, 'train_batches.safetensors'));
    const b = batches[0];
    const loss = batchLoss(model, b, 0, 0);
    const logits = noGrad(() => model.forward(b.x)).f32; // (B, T, V)
    const V = tok.vocabSize;
    let sum = 0;
    for (let i = 0; i < 24; i++) {
      const row = logits.subarray(i * V, (i + 1) * V);
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
      sum += lse - row[b.y.i32[i]];
    }
    assert.ok(Math.abs(loss - sum / 24) < 1e-5, `${loss} vs ${sum / 24}`);
  });
});

describe('checkpoints written by PyTorch through modeling.py load back', () => {
  const root = 'test/fixtures/torch-export';
  const build = (cfg: ModelDirConfig) => {
    if (cfg.model === 'DecoderLM') return new DecoderLM(cfg.config as never);
    if (cfg.model === 'Seq2SeqTransformer') return new Seq2SeqTransformer(cfg.config as never);
    return new EncoderClassifier(cfg.config as never);
  };
  for (const name of ['lm', 'seq2seq', 'classifier'])
    test(name, () => {
      const cfg = JSON.parse(
        readFileSync(join(root, name, 'config.json'), 'utf8'),
      ) as ModelDirConfig;
      const io = JSON.parse(readFileSync(join(root, name, 'io.json'), 'utf8')) as {
        inputs: Record<string, number[][]>;
        logits: number[];
        shape: number[];
      };
      const ids = (k: string): Tensor => tensor(io.inputs[k], undefined, 'int32');
      eachBackend(() => {
        const model = build(cfg);
        const fresh = [...model.parameters()[0].f32];
        assert.equal(loadModel(model, join(root, name, 'model.safetensors')).written_by, 'torch');
        assert.notDeepEqual([...model.parameters()[0].f32], fresh);
        model.eval();
        const y = noGrad(() =>
          model instanceof DecoderLM
            ? model.forward(ids('x'))
            : model instanceof Seq2SeqTransformer
              ? model.forward(ids('src'), ids('tgt'))
              : model.forward(ids('ids')),
        );
        assert.deepEqual([...y.shape], io.shape);
        assertClose(y.f32, io.logits, 1e-4, 1e-4, `${name} logits`);
      });
    });
});

describe('transformer export (CLI)', () => {
  test('--format torch writes the folder; a batch option of another task and an unknown format are refused', async () => {
    const dir = tmp();
    const text = lmText(dir);
    const model = join(dir, 'lm');
    const cfgFile = join(dir, 'c.json');
    writeFileSync(cfgFile, JSON.stringify({ dModel: 8, nhead: 2, numLayers: 1, blockSize: 8 }));
    const trainArgs = ['--data', text, '--config', cfgFile, '--steps', '2', '--out', model];
    const train = await cli(['train', '--task', 'lm', ...trainArgs]);
    assert.equal(train.code, 0, train.err);
    const out = join(dir, 'torch');
    const exportArgs = ['export', '--format', 'torch', '--model', model, '--out', out];
    const r = await cli([...exportArgs, '--data', text, '--steps', '3']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /6 training batches/);
    assert.equal(readBatches(join(out, 'train_batches.safetensors')).batches.length, 6);
    const bad = await cli([...exportArgs, '--data', text, '--batch-tokens', '99']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /--batch-tokens does not apply to a 'lm' model/);
    const unknown = await cli(['export', '--format', 'tflite', '--model', model, '--out', out]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.err, /tflite/);
  });
});
