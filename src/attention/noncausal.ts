/**
 * The base of the cores that only run non-causally (encoders): Linformer, induced-point and
 * clustered attention, whose computation mixes every key into what each query sees, so they
 * take no causal mask and keep no decoding state.
 */
import { AttentionCore, type AttentionState, type CoreInput } from './core.js';

export abstract class NonCausalCore extends AttentionCore {
  readonly supportsCausal = false;
  readonly supportsNonCausal = true;

  /** @throws Error always: a non-causal core does not decode. */
  newState(): AttentionState {
    throw new Error(`${this.kind} attention is non-causal: it has no decoding state`);
  }

  /** @throws Error naming the core when the call is causal or carries a state. */
  protected checkNonCausal(input: CoreInput, state: unknown): void {
    if (input.causal || state)
      throw new Error(
        `${this.kind} attention cannot run causally (no causal mask, no decoding state)`,
      );
  }
}
