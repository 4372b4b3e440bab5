/**
 * Scheduled sampling's decay of the teacher-forcing probability (Bengio et al. 2015, Sec. 2.4,
 * Fig. 2): at training step i (0 for the first optimizer step) the decoder reads the gold
 * previous token with probability eps(i), else a token sampled from its own prediction. The
 * probability handed to RNNSeq2Seq.forward's `samplingProb` is 1 - eps(i).
 *
 * - linear:       eps(i) = max(min, k - c i)     (k <= 1 the start, c the slope per step;
 *                 default k = 1, c = (k - min) / total steps, min = 0: eps reaches min at the end)
 * - exponential:  eps(i) = k^i                   (k < 1; default 0.999)
 * - inverse-sigmoid: eps(i) = k / (k + exp(i / k))   (k >= 1; default 100)
 *
 * Letters: i the step (0-based), k, c, min the schedule's parameters.
 */

export type SamplingDecay = 'linear' | 'exponential' | 'inverse-sigmoid';

/** A parsed --scheduled-sampling spec. */
export interface SamplingSchedule {
  decay: SamplingDecay;
  /** Teacher-forcing probability eps(i) at 0-based step i. */
  teacherForcing(i: number): number;
  /** The spec with every parameter, e.g. 'exponential:k=0.999'. */
  spec: string;
}

/** eps(i) = max(min, k - c i) (Bengio et al. 2015, linear decay). */
export function linearDecay(i: number, k: number, c: number, min: number): number {
  return Math.max(min, k - c * i);
}

/** eps(i) = k^i (Bengio et al. 2015, exponential decay). */
export function exponentialDecay(i: number, k: number): number {
  return Math.pow(k, i);
}

/** eps(i) = k / (k + exp(i / k)) (Bengio et al. 2015, inverse sigmoid decay). */
export function inverseSigmoidDecay(i: number, k: number): number {
  return k / (k + Math.exp(i / k));
}

const PARAMS: Record<SamplingDecay, string[]> = {
  linear: ['k', 'c', 'min'],
  exponential: ['k'],
  'inverse-sigmoid': ['k'],
};

/**
 * Parse `linear[:k=1,c=0.001,min=0] | exponential[:k=0.999] | inverse-sigmoid[:k=100]`.
 * @param totalSteps the run's optimizer steps (linear's default slope).
 * @throws Error naming --scheduled-sampling and the bad decay, parameter or value (k of
 *   exponential in (0, 1); of inverse-sigmoid >= 1; of linear in (0, 1]; c >= 0; min in [0, 1)).
 */
export function parseSamplingSchedule(spec: string, totalSteps: number): SamplingSchedule {
  const bad = (what: string): Error => new Error(`--scheduled-sampling '${spec}': ${what}`);
  const [name, rest] = spec.split(':', 2) as [string, string | undefined];
  if (!Object.hasOwn(PARAMS, name))
    throw bad(`unknown decay '${name}' (known: ${Object.keys(PARAMS).join(', ')})`);
  const decay = name as SamplingDecay;
  const p: Record<string, number> = {};
  for (const kv of rest ? rest.split(',') : []) {
    const [key, value] = kv.split('=');
    if (!PARAMS[decay].includes(key))
      throw bad(`unknown parameter '${key}' for ${decay} (known: ${PARAMS[decay].join(', ')})`);
    const x = Number(value);
    if (value === undefined || value.trim() === '' || !Number.isFinite(x))
      throw bad(`${key} must be a number, got '${value}'`);
    p[key] = x;
  }
  const range = (key: string, ok: boolean, want: string): void => {
    if (!ok) throw bad(`${key} must be ${want}, got ${p[key]}`);
  };
  if (decay === 'linear') {
    const k = p.k ?? 1;
    const min = p.min ?? 0;
    const c = p.c ?? (k - min) / Math.max(totalSteps, 1);
    p.k = k;
    range('k', k > 0 && k <= 1, 'in (0, 1]');
    p.min = min;
    range('min', min >= 0 && min < 1, 'in [0, 1)');
    p.c = c;
    range('c', c >= 0, '>= 0');
    return {
      decay,
      teacherForcing: (i) => linearDecay(i, k, c, min),
      spec: `linear:k=${k},c=${c},min=${min}`,
    };
  }
  if (decay === 'exponential') {
    const k = (p.k = p.k ?? 0.999);
    range('k', k > 0 && k < 1, 'in (0, 1)');
    return { decay, teacherForcing: (i) => exponentialDecay(i, k), spec: `exponential:k=${k}` };
  }
  const k = (p.k = p.k ?? 100);
  range('k', k >= 1, '>= 1');
  return {
    decay,
    teacherForcing: (i) => inverseSigmoidDecay(i, k),
    spec: `inverse-sigmoid:k=${k}`,
  };
}
