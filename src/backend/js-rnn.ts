/**
 * The js specification of the fused recurrent-cell kernels (`rnnCellForward`,
 * `rnnCellBackward` in types.ts): torch.nn.GRU's and torch.nn.LSTM's gate math for one
 * step, in float64 per element.
 *
 * Shape letters: B batch, H hidden width, G gates (3 GRU: r, z, n; 4 LSTM: i, f, g, o).
 */
type F32 = Float32Array;

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** See Kernels.rnnCellForward. */
export function rnnCellForward(
  out: F32,
  saved: F32,
  gi: F32,
  gh: F32,
  prev: F32,
  B: number,
  H: number,
  lstm: boolean,
): void {
  const G = lstm ? 4 : 3;
  for (let b = 0; b < B; b++) {
    const o = b * G * H;
    for (let j = 0; j < H; j++) {
      if (!lstm) {
        const r = sigmoid(gi[o + j] + gh[o + j]);
        const z = sigmoid(gi[o + H + j] + gh[o + H + j]);
        const ghn = gh[o + 2 * H + j];
        const n = Math.tanh(gi[o + 2 * H + j] + r * ghn);
        const s = b * 4 * H;
        [saved[s + j], saved[s + H + j], saved[s + 2 * H + j], saved[s + 3 * H + j]] = [
          r,
          z,
          n,
          ghn,
        ];
        out[b * H + j] = (1 - z) * n + z * prev[b * H + j];
      } else {
        const a = (k: number): number => gi[o + k * H + j] + gh[o + k * H + j];
        const i = sigmoid(a(0));
        const f = sigmoid(a(1));
        const g = Math.tanh(a(2));
        const og = sigmoid(a(3));
        const c = f * prev[b * H + j] + i * g;
        const tc = Math.tanh(c);
        const s = b * 5 * H;
        saved[s + j] = i;
        saved[s + H + j] = f;
        saved[s + 2 * H + j] = g;
        saved[s + 3 * H + j] = og;
        saved[s + 4 * H + j] = tc;
        out[b * 2 * H + j] = og * tc;
        out[b * 2 * H + H + j] = c;
      }
    }
  }
}

/** See Kernels.rnnCellBackward (accumulates into dgi, dgh, dprev). */
export function rnnCellBackward(
  dgi: F32 | null,
  dgh: F32 | null,
  dprev: F32 | null,
  dout: F32,
  saved: F32,
  prev: F32,
  B: number,
  H: number,
  lstm: boolean,
): void {
  const G = lstm ? 4 : 3;
  const put = (o: number, k: number, j: number, v: number): void => {
    if (dgi) dgi[o + k * H + j] += v;
    if (dgh) dgh[o + k * H + j] += v;
  };
  for (let b = 0; b < B; b++) {
    const o = b * G * H;
    for (let j = 0; j < H; j++) {
      if (!lstm) {
        const s = b * 4 * H;
        const [r, z, n, ghn] = [
          saved[s + j],
          saved[s + H + j],
          saved[s + 2 * H + j],
          saved[s + 3 * H + j],
        ];
        const dh = dout[b * H + j];
        const h = prev[b * H + j];
        const dan = dh * (1 - z) * (1 - n * n);
        const daz = dh * (h - n) * z * (1 - z);
        const dar = dan * ghn * r * (1 - r);
        if (dprev) dprev[b * H + j] += dh * z;
        put(o, 0, j, dar);
        put(o, 1, j, daz);
        if (dgi) dgi[o + 2 * H + j] += dan;
        if (dgh) dgh[o + 2 * H + j] += dan * r;
      } else {
        const s = b * 5 * H;
        const [i, f, g, og, tc] = [0, 1, 2, 3, 4].map((k) => saved[s + k * H + j]);
        const dh = dout[b * 2 * H + j];
        const dc = dout[b * 2 * H + H + j] + dh * og * (1 - tc * tc);
        if (dprev) dprev[b * H + j] += dc * f;
        put(o, 0, j, dc * g * i * (1 - i));
        put(o, 1, j, dc * prev[b * H + j] * f * (1 - f));
        put(o, 2, j, dc * i * (1 - g * g));
        put(o, 3, j, dh * tc * og * (1 - og));
      }
    }
  }
}
