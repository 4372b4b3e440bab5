import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxGraph } from '../../src/export/onnx-graph.js';
import { activation, linearModule, norm } from '../../src/export/onnx-layers.js';
import { Linear, LayerNorm, RMSNorm, activate } from '../../src/nn/layers.js';
import { BatchNorm } from '../../src/nn/batchnorm.js';
import type { Norm } from '../../src/nn/norms.js';
import { Generator } from '../../src/random.js';
import { randn } from '../../src/tensor.js';
import { assertClose } from '../helpers.js';
import { float32, runOnnx } from './ort.js';

const gen = new Generator(3);
const [B, L, C] = [2, 3, 8];

/** Run x -> build(x) as a one-input graph in onnxruntime. */
async function runLayer(
  build: (g: OnnxGraph, x: string) => string,
  x: Float32Array,
  outDims: number[],
): Promise<Float32Array> {
  const g = new OnnxGraph('t');
  const xin = g.input('x', 'FLOAT', [B, L, C]);
  g.output('y', build(g, xin), 'FLOAT', outDims);
  const out = await runOnnx(g.toBytes(17), { x: float32(x, [B, L, C]) });
  return out.y.data as Float32Array;
}

test('ONNX Linear and activations equal ours (onnxruntime-node)', async () => {
  const x = randn([B, L, C], gen);
  const lin = new Linear(C, 5, { generator: gen });
  const y = await runLayer((g, v) => linearModule(g, v, lin), x.f32, [B, L, 5]);
  assertClose(y, lin.forward(x).f32, 1e-5, 1e-5, 'linear');
  for (const kind of ['relu', 'gelu'] as const) {
    const a = await runLayer((g, v) => activation(g, v, kind), x.f32, [B, L, C]);
    assertClose(a, activate(x, kind).f32, 1e-6, 1e-5, kind);
  }
});

test('ONNX norms equal ours: LayerNorm, RMSNorm, BatchNorm in eval mode', async () => {
  const x = randn([B, L, C], gen, 0.5, 2);
  const bn = new BatchNorm(C, 1e-5);
  bn.runningMean.f32.set(randn([C], gen).f32);
  bn.runningVar.f32.set(randn([C], gen).f32.map((v) => 0.5 + v * v));
  bn.weight.f32.set(randn([C], gen).f32);
  bn.eval();
  const ln = new LayerNorm(C, 1e-5);
  ln.weight!.f32.set(randn([C], gen).f32);
  const norms: [string, Norm][] = [
    ['layer', ln],
    ['rms', new RMSNorm(C, 1e-6)],
    ['batch', bn],
  ];
  for (const [name, n] of norms) {
    const y = await runLayer((g, v) => norm(g, v, n), x.f32, [B, L, C]);
    assertClose(y, n.forward(x).f32, 1e-5, 1e-5, name);
  }
});

test('OnnxGraph refuses a value defined twice and a non-integer INT attribute', () => {
  const g = new OnnxGraph('t');
  g.input('x', 'FLOAT', [1]);
  assert.throws(() => g.input('x', 'FLOAT', [1]), /value 'x' defined twice/);
  assert.throws(() => g.op('Softmax', ['x'], { axis: 0.5 }), /'axis': 0.5 is not an integer/);
});
