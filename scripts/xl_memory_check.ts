/**
 * Measured check (issue #14): on tinyshakespeare, Transformer-XL's evaluation loss with its
 * memory is lower than without at the same segment length. Character-level; trains a small
 * TransformerXL with segment recurrence (B parallel streams of consecutive segments, the
 * memory carried between steps without gradient), and, as the baseline, the same model
 * with memory length 0; then evaluates both on the held-out last 10% of the text.
 *
 *   node --import tsx scripts/xl_memory_check.ts [steps=300] [segLen=32]
 *
 * Measured (native backend, 2 layers, d_model 64, 16 streams, seed 1; validation = the last
 * 10%, 400 segments), loss in nats per character:
 *   steps 2000, L = M = 32: XL 1.7488 with memory, 1.9625 without; M = 0 model 1.7884.
 *   steps 2000, L = M = 16: XL 1.9503 with memory, 2.1575 without; M = 0 model 1.9974.
 *   steps  600, L = M = 32: XL 2.1073 with memory, 2.3158 without; M = 0 model 2.0822
 *   (early in training the memory does not pay yet).
 */
import { readFileSync } from 'node:fs';
import { availableBackends, setBackend } from '../src/backend/index.js';
import { Generator } from '../src/random.js';
import { tensor } from '../src/tensor.js';
import * as F from '../src/ops/index.js';
import { Adam } from '../src/train/optim.js';
import { clipGradNorm } from '../src/train/trainer.js';
import { TransformerXL, segmentLoss } from '../src/models/transformer-xl.js';

const steps = Number(process.argv[2] ?? 300);
const L = Number(process.argv[3] ?? 32);
const B = 16;
if (availableBackends().includes('native')) setBackend('native');

const text = readFileSync(new URL('../data/tinyshakespeare.txt', import.meta.url), 'utf8');
const chars = [...new Set(text)].sort();
const ids = Int32Array.from([...text].map((c) => chars.indexOf(c)));
const split = Math.floor(ids.length * 0.9);
const train = ids.subarray(0, split);
const valid = ids.subarray(split);

function run(memLen: number): TransformerXL {
  const model = new TransformerXL(
    {
      vocabSize: chars.length,
      blockSize: L,
      memLen,
      dModel: 64,
      nhead: 4,
      numLayers: 2,
      dimFeedforward: 256,
      dropout: 0,
    },
    new Generator(1),
  );
  const opt = new Adam(model.parameters(), { lr: 2e-3 });
  const stream = Math.floor(train.length / B); // stream b reads train[b * stream ...]
  let memory = model.newMemory();
  let pos = 0;
  const t0 = Date.now();
  for (let step = 1; step <= steps; step++) {
    if (pos + L + 1 > stream) [pos, memory] = [0, model.newMemory()];
    const x: number[][] = [];
    const y: number[] = [];
    for (let b = 0; b < B; b++) {
      const s = b * stream + pos;
      x.push(Array.from(train.subarray(s, s + L)));
      y.push(...train.subarray(s + 1, s + L + 1));
    }
    pos += L;
    const logits = model.forward(tensor(x, undefined, 'int32'), memory);
    const loss = F.crossEntropy(
      F.reshape(logits, [B * L, chars.length]),
      tensor(Int32Array.from(y), [B * L]),
    );
    opt.zeroGrad();
    loss.backward();
    clipGradNorm(model.parameters(), 1);
    opt.step();
    if (step % 50 === 0)
      console.log(
        `memLen ${memLen} step ${step} train loss ${loss.item().toFixed(3)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
      );
  }
  return model;
}

const rows: string[] = [];
for (const memLen of [L, 0]) {
  const model = run(memLen);
  const withMem = segmentLoss(model, valid, L, { memory: true, maxSegments: 400 });
  const without = segmentLoss(model, valid, L, { memory: false, maxSegments: 400 });
  rows.push(
    `| ${memLen} | ${L} | ${withMem.loss.toFixed(4)} | ${without.loss.toFixed(4)} | ${withMem.tokens} |`,
  );
}
console.log(
  `\nsteps ${steps}, batch ${B} streams, segment length ${L}, char-level tinyshakespeare`,
);
console.log(
  '| trained memLen M | segment L | valid loss with memory | valid loss without memory | tokens |',
);
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
