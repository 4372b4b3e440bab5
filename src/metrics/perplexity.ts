/**
 * Perplexity of a language model from its mean negative log-likelihood.
 */

/**
 * Perplexity = exp(mean NLL): the exponential of the average per-token cross-entropy, in nats
 * (Jelinek et al. 1977; the usual LM metric, e.g. Vaswani et al. 2017 Sec. 6.2 reports per-wordpiece
 * perplexity). Pass the mean of -log p(token) over the counted tokens, in natural-log units; for
 * bits, multiply by ln 2 first.
 * @param meanNll mean negative log-likelihood per token, nats, >= 0 (+Infinity allowed: a token
 *   with probability 0 gives infinite perplexity)
 * @returns perplexity, >= 1
 * @throws RangeError when meanNll is NaN or negative
 */
export function perplexity(meanNll: number): number {
  if (typeof meanNll !== 'number' || Number.isNaN(meanNll)) {
    throw new RangeError(`perplexity: meanNll must be a number, got ${String(meanNll)}`);
  }
  if (meanNll < 0) {
    throw new RangeError(
      `perplexity: meanNll must be >= 0 (a mean negative log-likelihood in nats), got ${meanNll}`,
    );
  }
  return Math.exp(meanNll);
}
