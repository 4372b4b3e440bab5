/**
 * Model config validation: one check, in the constructors, so the library, `--config` and a
 * model directory's config.json refuse the same bad values, naming field, value and range.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DecoderLM, type DecoderLMConfig } from '../../src/models/decoder-lm.js';
import { Seq2SeqTransformer } from '../../src/models/seq2seq.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { ConfigError, validateModelConfig } from '../../src/models/config.js';

const lm: DecoderLMConfig = { vocabSize: 10, blockSize: 8, dModel: 8, nhead: 2, numLayers: 1 };
const bad = (over: Record<string, unknown>): unknown => ({ ...lm, ...over });

describe('model config validation', () => {
  for (const [over, re] of [
    [{ activation: 'tanh' }, /activation = "tanh" is not allowed \('relu' or 'gelu'\)/],
    [
      { position: 'rotary' },
      /position = .rotary.: position: unknown variant .rotary. \(known: sinusoidal, learned, rope/,
    ],
    [{ numLayers: -1 }, /numLayers = -1 is not allowed \(an integer in \[1, 4096\]\)/],
    [{ numLayers: 1.5 }, /numLayers = 1.5 is not allowed/],
    [{ layerNormEps: -1 }, /layerNormEps = -1 is not allowed \(a number > 0\)/],
    [{ dModel: '64' }, /dModel = "64" is not allowed \(an integer/],
    [{ dropout: 1 }, /dropout = 1 is not allowed \(a number >= 0 and < 1\)/],
    [{ normFirst: 'yes' }, /normFirst = "yes" is not allowed \(true or false\)/],
    [{ dmodel: 64 }, /unknown field 'dmodel' \(known: dModel, nhead/],
    [{ nhead: 3 }, /dModel 8 must be divisible by nhead 3/],
    [{ attention: 'lokal' }, /attention = 'lokal': attention: unknown variant 'lokal'/],
    [{ attention: 'local:width=4' }, /unknown parameter 'width'/],
    [{ vocabSize: undefined }, /vocabSize is required/],
  ] as [Record<string, unknown>, RegExp][]) {
    test(`refuses ${JSON.stringify(over)}`, () => {
      assert.throws(
        () => new DecoderLM(bad(over) as DecoderLMConfig),
        (e: Error) => e instanceof ConfigError && re.test(e.message),
      );
    });
  }

  test('a huge model is refused by its parameter count, before anything is allocated', () => {
    const rss0 = process.memoryUsage().rss;
    assert.throws(
      () => new DecoderLM({ ...lm, numLayers: 4000, dModel: 1024, nhead: 8 }),
      /about 5.0\de\+10 parameters, more than the 1e\+9 allowed/,
    );
    assert.ok(process.memoryUsage().rss - rss0 < 50e6, 'nothing big allocated');
  });

  test('the three models share the block fields and check their own', () => {
    const s2s = {
      srcVocabSize: 20,
      tgtVocabSize: 20,
      dModel: 8,
      nhead: 2,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      dimFeedforward: 16,
    };
    assert.doesNotThrow(() => new Seq2SeqTransformer(s2s));
    assert.throws(() => new Seq2SeqTransformer({ ...s2s, padId: 20 }), /padId 20 must be below/);
    assert.throws(
      () => new Seq2SeqTransformer({ ...s2s, numLayers: 2 } as never),
      /seq2seq config: unknown field 'numLayers'/,
    );
    const cls = { vocabSize: 20, numClasses: 2, dModel: 8, nhead: 2, numLayers: 1 };
    assert.doesNotThrow(() => new EncoderClassifier({ ...cls, attention: 'local:window=4' }));
    assert.throws(
      () => new EncoderClassifier({ ...cls, pooling: 'max' } as never),
      /pooling = "max" is not allowed \('cls' or 'mean'\)/,
    );
    assert.throws(() => validateModelConfig('lm', null), /expected an object/);
  });

  test('defaults are filled per model, and the attention spec is canonical', () => {
    const m = new DecoderLM({ ...lm, attention: 'local' });
    assert.equal(m.config.attention, 'local:window=128');
    assert.equal(m.config.activation, 'gelu');
    assert.equal(m.config.normFirst, true);
    assert.equal(m.config.dimFeedforward, 32);
    const s = new Seq2SeqTransformer({
      srcVocabSize: 9,
      tgtVocabSize: 9,
      dModel: 8,
      nhead: 2,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      dimFeedforward: 16,
    });
    assert.equal(s.config.activation, 'relu');
    assert.equal(s.config.normFirst, false);
    assert.equal(s.config.attention, 'full');
  });
});

test('a deep or huge value is named in a short message, never a RangeError', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 20000; i++) deep = [deep];
  assert.throws(
    () => validateModelConfig('lm', { ...lm, dModel: deep }),
    (e: Error) => e instanceof ConfigError && /dModel = \[\.\.\.\] is not allowed/.test(e.message),
  );
  assert.throws(
    () => validateModelConfig('lm', { ...lm, activation: 'x'.repeat(10000) }),
    (e: Error) => e instanceof ConfigError && e.message.length < 200,
  );
});
