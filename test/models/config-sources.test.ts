/**
 * Model config validation (issue #11.7) through the three ways a config reaches a model:
 * the library constructors (test/models/config.test.ts), the CLI's `--config FILE.json`,
 * and a model directory's config.json. Each refuses the same bad values with a ConfigError
 * naming the field, the value and the allowed range, and the file when there is one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecoderLM, type DecoderLMConfig } from '../../src/models/decoder-lm.js';
import { ConfigError } from '../../src/models/config.js';
import { Generator } from '../../src/random.js';
import { trainCharTokenizer } from '../../src/tokenizers/index.js';
import { saveModelDir } from '../../src/tasks/modeldir.js';
import { loadLM } from '../../src/tasks/lm.js';
import { loadClassifier } from '../../src/tasks/classify.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { runTrain } from '../../src/cli/train.js';

const TEXT = 'to be or not to be, that is the question. '.repeat(20);
const lm: DecoderLMConfig = { vocabSize: 20, blockSize: 8, dModel: 8, nhead: 2, numLayers: 1 };

/** The cases: each field, a bad value, and what the message must say. */
const CASES: [Record<string, unknown>, RegExp][] = [
  [{ activation: 'tanh' }, /activation = "tanh" is not allowed \('relu' or 'gelu'\)/],
  [{ position: 'rotary' }, /position = 'rotary': position: unknown variant 'rotary'/],
  [{ numLayers: -1 }, /numLayers = -1 is not allowed \(an integer in \[1, 4096\]\)/],
  [{ numLayers: 1.5 }, /numLayers = 1.5 is not allowed \(an integer in \[1, 4096\]\)/],
  [{ numLayers: 100000 }, /numLayers = 100000 is not allowed \(an integer in \[1, 4096\]\)/],
  [{ layerNormEps: -1 }, /layerNormEps = -1 is not allowed \(a number > 0\)/],
  [{ numLayers: '2' }, /numLayers = "2" is not allowed/],
  [{ dropout: '0.1' }, /dropout = "0.1" is not allowed/],
  [{ dmodel: 64 }, /unknown field 'dmodel'/],
  [
    { numLayers: 4000, dModel: 1024, nhead: 8 },
    /about 5\.0\de\+10 parameters, more than the 1e\+9 allowed/,
  ],
];

const tmp = (): string => mkdtempSync(join(tmpdir(), 'tts-config-'));

test('--config FILE.json: the CLI refuses each bad value with a ConfigError', async () => {
  const dir = tmp();
  try {
    const data = join(dir, 'text.txt');
    writeFileSync(data, TEXT);
    const config = join(dir, 'config.json');
    for (const [over, re] of CASES) {
      writeFileSync(config, JSON.stringify(over));
      await assert.rejects(
        runTrain({ task: 'lm', data, config, out: join(dir, 'out'), seed: 1, steps: 1 }),
        (e: Error) => e instanceof ConfigError && re.test(e.message),
        JSON.stringify(over),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a model directory's config.json is validated before the model is built, naming the file", async () => {
  const dir = tmp();
  try {
    const tok = trainCharTokenizer([TEXT]);
    const config = { ...lm, vocabSize: tok.vocabSize };
    const model = new DecoderLM(config, new Generator(1));
    await saveModelDir(dir, { task: 'lm', model: 'DecoderLM', config }, model, tok);
    const path = join(dir, 'config.json');
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { config: Record<string, unknown> };
    assert.equal((await loadLM(dir)).model.config.numLayers, 1, 'the saved directory loads');

    for (const [over, re] of CASES) {
      writeFileSync(path, JSON.stringify({ ...saved, config: { ...saved.config, ...over } }));
      let err: unknown;
      assert.throws(
        () => loadLM(dir),
        (e: unknown) => {
          err = e;
          return true;
        },
      );
      assert.ok(err instanceof ConfigError, `${JSON.stringify(over)}: got ${String(err)}`);
      assert.ok(err.message.startsWith(`${path}: lm config: `), err.message);
      assert.match(err.message, re);
      // Refused in validation, before any layer was constructed.
      assert.doesNotMatch(err.stack ?? '', /new (Linear|Embedding|LayerStack)|at Linear/);
    }
    // A corrupt or hostile file names the file, never a bare SyntaxError or RangeError.
    const files: [string, RegExp][] = [
      ['{"task": "lm", "config": {"dModel": 8,', /not valid JSON/],
      [`{"task":"lm","config":${'['.repeat(100000)}`, /nests arrays\/objects more than 32 deep/],
      ['[1, 2]', /expected a JSON object with task, model and config/],
      ['{"task": "dance", "config": {}}', /task must be 'lm', 'translate' or 'classify'/],
    ];
    for (const [text, re] of files) {
      writeFileSync(path, text);
      assert.throws(
        () => loadLM(dir),
        (e: Error) =>
          e.constructor === Error && e.message.startsWith(`${path}: `) && re.test(e.message),
        text.slice(0, 40),
      );
    }
    writeFileSync(path, Buffer.from([0x7b, 0xff, 0x7d])); // "{\xff}"
    assert.throws(() => loadLM(dir), new RegExp(`${path}: not valid UTF-8`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a classifier directory's labels must name every class", async () => {
  const dir = tmp();
  try {
    const tok = trainCharTokenizer([TEXT]);
    const config = { vocabSize: tok.vocabSize, numClasses: 3, dModel: 8, nhead: 2, numLayers: 1 };
    const model = new EncoderClassifier(config, new Generator(1));
    const path = join(dir, 'config.json');
    for (const [labels, ok] of [
      [['a', 'b', 'c'], true],
      [['a', 'b'], false], // classifyTexts printed `undefined` for class 2
      [undefined, false],
      [['a', 'b', 3], false],
    ] as [unknown, boolean][]) {
      const dirConfig = { task: 'classify', model: 'EncoderClassifier', config, labels } as const;
      await saveModelDir(dir, dirConfig as Parameters<typeof saveModelDir>[1], model, tok);
      if (ok) assert.deepEqual((await loadClassifier(dir)).labels, labels);
      else
        assert.throws(
          () => loadClassifier(dir),
          new RegExp(`${path}: labels must be 3 strings, one per class`),
        );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
