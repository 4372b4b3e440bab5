/**
 * The recurrent layers against PyTorch 1.13 (fixtures from scripts/make_rnn_fixtures.py):
 * torch.nn.GRU and torch.nn.LSTM with the same weights, one and two layers, one and two
 * directions, given and zero initial states, and sequences of different lengths (PyTorch's
 * packed sequences). Outputs within 1e-5; every parameter's and input's gradient within
 * 1e-4 of its largest magnitude. On every backend.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import * as F from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor.js';
import { RNN, type CellKind } from '../../src/rnn/recurrent.js';
import { backends, maxAbsDiff } from '../helpers.js';
import { loadFixture } from '../parity/fixture.js';

const cases = ['rnn_gru_1l', 'rnn_gru_2l_bi_lengths', 'rnn_lstm_1l', 'rnn_lstm_2l_bi_lengths'];

function relDiff(ours: Tensor | null, theirs: Tensor, what: string): number {
  assert.ok(ours, `${what}: no gradient`);
  let m = 1e-12;
  for (const v of theirs.f32) m = Math.max(m, Math.abs(v));
  return maxAbsDiff(ours.f32, theirs.f32) / m;
}

for (const backendName of backends) {
  describe(`recurrent layers vs PyTorch (${backendName})`, () => {
    for (const name of cases) {
      test(name, (t) => {
        setBackend(backendName);
        const fx = loadFixture(name);
        const c = fx.config as Record<string, unknown>;
        const rnn = new RNN({
          cell: c.cell as CellKind,
          inputSize: c.inputSize as number,
          hiddenSize: c.hiddenSize as number,
          numLayers: c.numLayers as number,
          bidirectional: c.bidirectional as boolean,
        });
        rnn.loadStateDict(fx.params());
        const inputs: Record<string, Tensor> = { x: fx.get('input/x').requiresGrad_(true) };
        for (const k of ['h0', 'c0'])
          if (fx.has(`input/${k}`)) inputs[k] = fx.get(`input/${k}`).requiresGrad_(true);
        const lengths = [...fx.get('input/lengths').i32];
        const r = rnn.forward(inputs.x, { lengths, h0: inputs.h0, c0: inputs.c0 });
        const outs: [string, Tensor | null][] = [
          ['out', r.output],
          ['hN', r.hN],
          ['cN', r.cN],
        ];
        for (const [k, ours] of outs) {
          if (!fx.has(`output/${k}`)) continue;
          assert.ok(ours, `${k} missing`);
          const theirs = fx.get(`output/${k}`);
          assert.deepEqual([...ours.shape], [...theirs.shape], `${k} shape`);
          const d = maxAbsDiff(ours.f32, theirs.f32);
          t.diagnostic(`${k}: max abs diff ${d.toExponential(2)}`);
          assert.ok(d <= 1e-5, `${k}: ${d}`);
        }
        let loss = F.add(
          F.sum(F.mul(r.output, fx.get('input/lossWeight'))),
          F.sum(F.mul(r.hN, fx.get('input/hWeight'))),
        );
        if (r.cN) loss = F.add(loss, F.sum(F.mul(r.cN, fx.get('input/cWeight'))));
        loss.backward();
        let worst = 0;
        for (const [k, p] of rnn.stateDict()) {
          const d = relDiff(p.grad, fx.get(`grad/${k}`), k);
          assert.ok(d <= 1e-4, `grad ${k}: ${d}`);
          worst = Math.max(worst, d);
        }
        for (const [k, x] of Object.entries(inputs)) {
          const d = relDiff(x.grad, fx.get(`grad/input/${k}`), k);
          assert.ok(d <= 1e-4, `grad input ${k}: ${d}`);
          worst = Math.max(worst, d);
        }
        t.diagnostic(`gradients: max relative diff ${worst.toExponential(2)}`);
      });
    }

    test('RNN refuses bad shapes and options, naming them', () => {
      setBackend(backendName);
      assert.throws(() => new RNN({ cell: 'gru', inputSize: 0, hiddenSize: 4 }), /inputSize/);
      assert.throws(
        () => new RNN({ cell: 'rnn' as CellKind, inputSize: 2, hiddenSize: 4 }),
        /cell must be/,
      );
      const rnn = new RNN({ cell: 'lstm', inputSize: 3, hiddenSize: 4 });
      const x = new Tensor(new Float32Array(2 * 5 * 2), [2, 5, 2]);
      assert.throws(() => rnn.forward(x), /\(2, 5, 2\) must be \(B, T, 3\)/);
      const x3 = new Tensor(new Float32Array(2 * 5 * 3), [2, 5, 3]);
      assert.throws(() => rnn.forward(x3, { lengths: [5, 6] }), /length 6 outside \[1, 5\]/);
    });
  });
}
