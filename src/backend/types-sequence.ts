/**
 * The sequence-model part of the kernel contract (src/backend/types.ts `Kernels` extends
 * it): the fused recurrent cell of the RNN baselines and the word2vec training loop.
 *
 * Shape letters: B batch, H hidden width, G gates, V vocabulary, D vector width.
 */
type F32 = Float32Array;
type I32 = Int32Array;

/** The settings of Kernels.word2vecTrain. */
export interface Word2VecParams {
  /** D, the vector width. */
  dim: number;
  /** Largest window: up to `window` words each side (reduced at random per position). */
  window: number;
  /** Negative samples per prediction. */
  negative: number;
  epochs: number;
  /** Starting learning rate, decayed linearly to alpha * 1e-4. */
  alpha: number;
  /** CBOW (true) or Skip-gram (false). */
  cbow: boolean;
  /** uint32 seed of the per-thread random streams. */
  seed: number;
}

/** The sequence-model kernels (see the file's comment). */
export interface SequenceKernels {
  /**
   * Train word vectors in place with negative sampling (Mikolov et al. 2013), as word2vec.c:
   * see src/backend/js-word2vec.ts (the specification). syn0 (V, D) input vectors, syn1
   * (V, D) output vectors; corpus (N) word ids with -1 at sentence breaks; keepProb (V) the
   * subsampling keep probability of each word (>= 1: always kept); table the unigram^0.75
   * negative-sampling table of word ids. Native: the corpus split over the pool's threads,
   * updates racing as in word2vec.c (Hogwild), so more than one thread is not bit-for-bit
   * reproducible. @returns positions trained (after subsampling), over all epochs.
   */
  word2vecTrain(
    syn0: F32,
    syn1: F32,
    corpus: I32,
    keepProb: F32,
    table: I32,
    params: Word2VecParams,
  ): number;

  /**
   * The gate math of one recurrent step, fused (torch.nn.GRU / LSTM equations; the input and
   * recurrent projections gi = W_ih x + b_ih and gh = W_hh h + b_hh come from GEMMs).
   * GRU (gates r, z, n; prev = h (B, H)): out (B, H) = h' = (1 - z) n + z h with
   *   r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r gh_n);
   *   saved (B, 4H) = [r, z, n, gh_n].
   * LSTM (gates i, f, g, o; prev = c (B, H)): out (B, 2H) = [h', c'] with c' = f c + i g,
   *   h' = o tanh(c'); saved (B, 5H) = [i, f, g, o, tanh(c')].
   * gi, gh (B, G*H), G = 3 (GRU) or 4 (LSTM), gates in that order along each row.
   */
  rnnCellForward(
    out: F32,
    saved: F32,
    gi: F32,
    gh: F32,
    prev: F32,
    B: number,
    H: number,
    lstm: boolean,
  ): void;
  /**
   * Backward of rnnCellForward: accumulates dgi, dgh (B, G*H) and dprev (B, H) (any may be
   * null) from dout (the shape of out), with saved and prev of the forward.
   */
  rnnCellBackward(
    dgi: F32 | null,
    dgh: F32 | null,
    dprev: F32 | null,
    dout: F32,
    saved: F32,
    prev: F32,
    B: number,
    H: number,
    lstm: boolean,
  ): void;
}
