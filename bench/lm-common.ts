/**
 * Shared setup of the case-1 language model (bench/lm-train.ts, bench/generate.ts,
 * bench/lm-floor.ts, bench/lm-memory.ts, bench/lm-losses.ts): a character-level GPT on the
 * bundled tinyshakespeare, 4 layers, 4 heads, width 128, vocabulary 65, context 64,
 * batch 12, dropout 0, trained with AdamW. The peer (bench/peer/lm_train.py) builds the
 * same architecture in PyTorch.
 *
 * Shape letters: B batch, T context, C width, V vocabulary.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DecoderLM, type DecoderLMConfig } from '../src/models/decoder-lm.js';
import * as F from '../src/ops/index.js';
import { Generator } from '../src/random.js';
import { StepArena, Tensor } from '../src/tensor.js';
import { AdamW } from '../src/train/optim.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

export const LM_CONFIG: DecoderLMConfig = {
  vocabSize: 65,
  blockSize: 64,
  dModel: 128,
  nhead: 4,
  numLayers: 4,
  dimFeedforward: 512,
  dropout: 0,
  activation: 'gelu',
  normFirst: true,
};
export const LM_BATCH = 12;
export const LM_LR = 1e-3;

let tokensCache: Int32Array | null = null;

/** tinyshakespeare as character ids in [0, 65) (sorted unique characters). */
export function shakespeareTokens(): Int32Array {
  if (tokensCache) return tokensCache;
  const text = readFileSync(join(BENCH_DIR, '..', 'data', 'tinyshakespeare.txt'), 'utf8');
  const chars = [...new Set(text)].sort();
  if (chars.length !== LM_CONFIG.vocabSize)
    throw new Error(`tinyshakespeare has ${chars.length} characters, expected 65`);
  const id = new Map(chars.map((c, i) => [c, i]));
  const out = new Int32Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = id.get(text[i])!;
  tokensCache = out;
  return out;
}

/** Random (B, T) windows of the text and their next-character targets, from a seeded generator. */
export class LMBatches {
  private readonly gen: Generator;
  private readonly tokens = shakespeareTokens();
  constructor(seed: number) {
    this.gen = new Generator(seed);
  }
  next(B = LM_BATCH, T = LM_CONFIG.blockSize): { x: Tensor; y: Tensor } {
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const start = this.gen.randint(this.tokens.length - T - 1);
      x.set(this.tokens.subarray(start, start + T), b * T);
      y.set(this.tokens.subarray(start + 1, start + T + 1), b * T);
    }
    return { x: new Tensor(x, [B, T]), y: new Tensor(y, [B * T]) };
  }
}

/**
 * The case-1 model (seeded) and its AdamW optimizer (lr 1e-3, PyTorch's defaults otherwise).
 * `blockSize` overrides the context (the size of the learned position table).
 */
export function makeLM(
  seed = 1337,
  blockSize = LM_CONFIG.blockSize,
): { model: DecoderLM; opt: AdamW } {
  const model = new DecoderLM({ ...LM_CONFIG, blockSize }, new Generator(seed));
  const opt = new AdamW(model.parameters(), { lr: LM_LR });
  return { model, opt };
}

/**
 * The StepArena a benchmark step runs in, as the Trainer runs its steps; null when
 * TRANSFORMER_NO_ARENA=1 (to compare).
 */
export function benchArena(): StepArena | null {
  return process.env.TRANSFORMER_NO_ARENA === '1' ? null : new StepArena();
}

const arenas = new WeakMap<DecoderLM, StepArena | null>();

/**
 * One training step, as the Trainer runs it (in a StepArena, so activations and gradients
 * reuse the previous step's storage; TRANSFORMER_NO_ARENA=1 turns that off to compare);
 * returns the loss. `vocab` is the model's vocabulary V (case 1's by default).
 */
export function lmStep(
  model: DecoderLM,
  opt: AdamW,
  x: Tensor,
  y: Tensor,
  vocab = LM_CONFIG.vocabSize,
): number {
  const step = (): number => {
    opt.zeroGrad();
    const logits = model.forward(x); // (B, T, V)
    const loss = F.crossEntropy(F.reshape(logits, [-1, vocab]), y);
    loss.backward();
    opt.step();
    return loss.item();
  };
  let arena = arenas.get(model);
  if (arena === undefined) arenas.set(model, (arena = benchArena()));
  return arena ? arena.run(step) : step();
}
