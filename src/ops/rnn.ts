/**
 * The fused recurrent cell (torch.nn.GRU / torch.nn.LSTM equations): one step's gate math
 * in one kernel (`rnnCellForward` / `rnnCellBackward`), instead of the dozen element-wise
 * ops of the autograd path (src/rnn/recurrent.ts `cellStepReference`, its test oracle).
 *
 * Shape letters: B batch, H hidden width, G gates (3 GRU: r, z, n; 4 LSTM: i, f, g, o).
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import { Tensor, empty, fmtShape } from '../tensor.js';

/**
 * One recurrent step's gate math, fused.
 * @param kind 'gru' or 'lstm'.
 * @param gi (B, G*H) float32 the input projection W_ih x + b_ih of this step.
 * @param gh (B, G*H) float32 the recurrent projection W_hh h + b_hh.
 * @param prev (B, H) float32: the previous h (GRU) or c (LSTM).
 * @returns GRU: h' (B, H); LSTM: [h', c'] concatenated, (B, 2H).
 * @throws Error naming the shapes when gi, gh and prev disagree.
 */
export function rnnCell(kind: 'gru' | 'lstm', gi: Tensor, gh: Tensor, prev: Tensor): Tensor {
  const lstm = kind === 'lstm';
  const G = lstm ? 4 : 3;
  const [B, H] = prev.shape;
  const ok = (t: Tensor) => t.ndim === 2 && t.shape[0] === B && t.shape[1] === G * H;
  if (prev.ndim !== 2 || !ok(gi) || !ok(gh))
    throw new Error(
      `rnnCell(${kind}): gi ${fmtShape(gi.shape)} and gh ${fmtShape(gh.shape)} must be (${B}, ${G * H}) for prev ${fmtShape(prev.shape)}`,
    );
  const out = empty([B, lstm ? 2 * H : H]);
  const saved = new Float32Array(B * H * (lstm ? 5 : 4));
  backend().rnnCellForward(out.f32, saved, gi.f32, gh.f32, prev.f32, B, H, lstm);
  return record('rnnCell', [gi, gh, prev], out, { B, H, lstm, saved });
}
