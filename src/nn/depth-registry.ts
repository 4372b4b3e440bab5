/**
 * The depth registry: how a stack runs its layers, selected by a `NAME[:key=value,...]` spec
 * (the `depth` field of a model config and of config.json; `--depth` on the command line):
 *
 *   fixed                                   every layer once, in order (the paper; default)
 *   universal:max-steps=8,act=false,...     the Universal Transformer (Dehghani et al. 2019):
 *                                           the stack's layers are ONE block with shared
 *                                           weights, applied max-steps times (under ACT: at
 *                                           most), with the position + step signal.
 *   conditional:budget=0.5,weight=0.1,...   a learned gate per sub-layer that skips it
 *                                           (Bapna et al. 2020), with a budget loss.
 *
 * With `universal`, the model's numLayers (numEncoderLayers, numDecoderLayers) is the number
 * of distinct layers in the shared block: the paper's UT is numLayers = 1; numLayers = n runs
 * n * max-steps layer applications with n layers' parameters. Adding a strategy: its file,
 * plus one entry in `builtins` below.
 *
 * Shape letters: C d_model.
 */
import type { Generator } from '../random.js';
import { SpecRegistry, describeEntry, type Spec, type SpecEntry } from '../attention/spec.js';
import { FixedDepth, type DepthStrategy } from './stack.js';
import { UniversalDepth } from './universal.js';
import { ConditionalDepth } from './conditional.js';

/** A registered depth strategy. */
export interface DepthVariant extends SpecEntry {
  /** The paper (and the survey's section). */
  readonly paper: string;
  /** Check parameters beyond their declared ranges. @throws Error naming the parameter. */
  check?(params: Spec['params']): void;
  /** Build the strategy for a stack of width C (and of `shape`, when the strategy needs it). */
  create(
    dModel: number,
    params: Spec['params'],
    generator?: Generator,
    shape?: StackShape,
  ): DepthStrategy;
}

/** The stack a strategy runs: N layers of `sublayers` sub-layers (2 encoder, 3 decoder). */
export interface StackShape {
  layers: number;
  sublayers: number;
}

const builtins: DepthVariant[] = [
  {
    name: 'fixed',
    params: [],
    paper: 'Vaswani et al. 2017, Sec. 3.1 (a stack of N layers)',
    create: () => new FixedDepth(),
  },
  {
    name: 'universal',
    params: [
      { name: 'max-steps', type: 'int', default: 8, min: 1, doc: 'steps T of the shared block' },
      { name: 'act', type: 'bool', default: false, doc: 'adaptive computation time (Graves 2016)' },
      { name: 'tau', type: 'number', default: 0.01, min: 0, doc: 'ponder-cost weight in the loss' },
      {
        name: 'epsilon',
        type: 'number',
        default: 0.01,
        min: 0,
        doc: 'halting threshold 1 - epsilon, in (0, 1)',
      },
      { name: 'signal', type: 'bool', default: true, doc: 'position + step signal (Eq. 5)' },
    ],
    paper: 'Dehghani et al. 2019 (Universal Transformer); survey Sec. 6.3, Fig. 12',
    check: (p) => {
      const eps = p.epsilon as number;
      if (!(eps > 0 && eps < 1))
        throw new Error(`depth 'universal': epsilon=${eps} must be in (0, 1)`);
    },
    create: (dModel, p, generator) =>
      new UniversalDepth(dModel, {
        maxSteps: p['max-steps'] as number,
        act: p.act as boolean,
        tau: p.tau as number,
        epsilon: p.epsilon as number,
        signal: p.signal as boolean,
        generator,
      }),
  },
  {
    name: 'conditional',
    params: [
      {
        name: 'budget',
        type: 'number',
        default: 0.5,
        min: 0,
        doc: 'share of sub-layers run, in [0, 1]',
      },
      { name: 'weight', type: 'number', default: 0.1, min: 0, doc: 'budget-loss weight' },
      {
        name: 'noise',
        type: 'number',
        default: 1,
        min: 0,
        doc: 'sigma of the training noise on the gates',
      },
    ],
    paper: 'Bapna et al. 2020 (Conditional Computation Transformer); survey Sec. 6.3',
    check: (p) => {
      const b = p.budget as number;
      if (b > 1) throw new Error(`depth 'conditional': budget=${b} must be in [0, 1]`);
    },
    create: (dModel, p, generator, shape) => {
      if (!shape) throw new Error(`depth 'conditional' needs the stack's layers and sub-layers`);
      return new ConditionalDepth(dModel, {
        ...shape,
        budget: p.budget as number,
        weight: p.weight as number,
        noise: p.noise as number,
        generator,
      });
    },
  },
];

const registry = new SpecRegistry('depth', builtins);

/** Register a depth strategy (library users' own). @throws Error if the name is taken or malformed. */
export function registerDepth(v: DepthVariant): void {
  registry.add(v);
}

/**
 * Parse a depth spec (`'fixed'`, `'universal:max-steps=4,act=true'`), defaults filled in.
 * @throws Error naming an unknown strategy (listing the known ones), an unknown parameter or a
 *   bad value.
 */
export function parseDepthSpec(spec: string | Spec): Spec {
  return registry.parse(spec);
}

/**
 * Parse and check a depth spec without building anything (config validation).
 * @throws as parseDepthSpec, and Error naming a parameter out of its strategy's range.
 */
export function checkDepthSpec(spec: string | Spec): Spec {
  const [v, s] = registry.resolve(spec);
  v.check?.(s.params);
  return s;
}

/** The canonical string of a depth spec (`universal:max-steps=4,act=true,tau=0.01,...`). */
export function formatDepthSpec(spec: string | Spec): string {
  return registry.format(spec);
}

/**
 * Build the strategy a spec names for a stack of width dModel (each stack its own: an
 * encoder and a decoder get separate halting units).
 * @param generator initializes the strategy's parameters (ACT's halting unit).
 * @param shape the stack's layers and sub-layers per layer ('conditional' needs them).
 * @throws as parseDepthSpec, and Error from the strategy's constructor (e.g. epsilon >= 1).
 */
export function createDepth(
  spec: string | Spec,
  dModel: number,
  generator?: Generator,
  shape?: StackShape,
): DepthStrategy {
  const [v, s] = registry.resolve(spec);
  return v.create(dModel, s.params, generator, shape);
}

/** One line per strategy: name, parameters, paper (`transformer info`). */
export function describeDepths(): string[] {
  return registry.list().map((v) => describeEntry(v, v.paper));
}
