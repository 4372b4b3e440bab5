/**
 * Writes a randomly initialized transformer-ts `Transformer` and its output on fixed
 * inputs to a directory, for scripts/check_torch_interop.py to load in PyTorch.
 * Usage: node --import tsx scripts/export_for_torch_check.ts OUT_DIR
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  Generator,
  Transformer,
  noGrad,
  randn,
  saveModel,
  writeSafetensors,
  fromFloat32,
} from '../src/index.js';

const out = process.argv[2] ?? 'interop-check';
mkdirSync(out, { recursive: true });
const gen = new Generator(123);
const model = new Transformer({
  dModel: 24,
  nhead: 4,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  dimFeedforward: 48,
  dropout: 0,
  generator: gen,
  normFirst: true,
  activation: 'gelu',
});
for (const p of model.parameters())
  if (p.ndim === 1) for (let i = 0; i < p.size; i++) p.f32[i] += 0.1 * gen.normal();
const src = randn([2, 6, 24], gen);
const tgt = randn([2, 4, 24], gen);
const mask = Transformer.generateSquareSubsequentMask(4);
const y = noGrad(() => model.eval().forward(src, tgt, { tgtMask: mask }));
saveModel(model, join(out, 'model.safetensors'));
const raw = (t: typeof src) => fromFloat32(t.f32, [...t.shape]);
writeSafetensors(join(out, 'io.safetensors'), { src: raw(src), tgt: raw(tgt), out: raw(y) });
console.log(`wrote ${out}/model.safetensors and io.safetensors`);
