/**
 * How many key/value heads the queries share (the survey's Sec. 4.6, multi-head variants):
 * `standard` (every query head its own keys and values, Vaswani et al. 2017),
 * `multi-query` (one key/value head for all, Shazeer 2019) and `grouped-query:groups=G`
 * (G key/value heads, each shared by H/G query heads, Ainslie et al. 2023). Fewer key and
 * value heads shrink the K/V projections by the same factor.
 */
import { SpecRegistry, describeEntry, type Spec, type SpecEntry } from './spec.js';

interface HeadsVariant extends SpecEntry {
  readonly paper: string;
  /** Key/value heads for H query heads. @throws Error when they do not divide H. */
  kvHeads(H: number, params: Spec['params']): number;
}

const variants: HeadsVariant[] = [
  { name: 'standard', params: [], paper: 'Vaswani et al. 2017, Sec. 3.2.2', kvHeads: (H) => H },
  { name: 'multi-query', params: [], paper: 'Shazeer 2019', kvHeads: () => 1 },
  {
    name: 'grouped-query',
    params: [{ name: 'groups', type: 'int', default: 2, min: 1, doc: 'key/value heads G' }],
    paper: 'Ainslie et al. 2023 (GQA)',
    kvHeads: (H, p) => {
      const G = p.groups as number;
      if (H % G !== 0)
        throw new Error(`heads 'grouped-query': groups=${G} must divide the ${H} heads`);
      return G;
    },
  },
];
const registry = new SpecRegistry('heads', variants);

/** Parse a heads spec. @throws Error naming an unknown variant or parameter. */
export function parseHeadsSpec(spec: string | Spec): Spec {
  return registry.parse(spec);
}

/** The canonical string of a heads spec. */
export function formatHeadsSpec(spec: string | Spec): string {
  return registry.format(spec);
}

/**
 * Key/value heads a spec gives H query heads.
 * @throws Error naming the spec when G does not divide H.
 */
export function kvHeadsFor(spec: string | Spec, H: number): number {
  const [v, s] = registry.resolve(spec);
  return v.kvHeads(H, s.params);
}

/** One line per variant (`transformer info --attention`). */
export function describeHeads(): string[] {
  return registry.list().map((v) => describeEntry(v, v.paper));
}
