/** Loads a PyTorch parity fixture written by scripts/make_fixtures.py. */
import { fileURLToPath } from 'node:url';
import { readSafetensors, toBool, toFloat32, toInt32 } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor.js';

const dir = fileURLToPath(new URL('../fixtures/parity/', import.meta.url));

export interface Fixture {
  config: Record<string, unknown> & { masks?: Record<string, { kind: string }> };
  has(name: string): boolean;
  /** A float32 tensor (F32 data), int32 (I32) or bool (U8) per the stored dtype. */
  get(name: string): Tensor;
  /** Every name starting with `prefix`, with the prefix removed. */
  names(prefix: string): string[];
  /** Parameters (`param/*`) as a state dict. */
  params(): Map<string, Tensor>;
}

export function loadFixture(name: string): Fixture {
  const { tensors, metadata } = readSafetensors(`${dir}${name}.safetensors`);
  const get = (n: string): Tensor => {
    const t = tensors.get(n);
    if (!t) throw new Error(`fixture ${name}: no tensor ${n}`);
    if (t.dtype === 'U8' || t.dtype === 'BOOL') return new Tensor(toBool(t), t.shape);
    if (t.dtype === 'I32' || t.dtype === 'I64') return new Tensor(toInt32(t), t.shape);
    return new Tensor(toFloat32(t), t.shape);
  };
  const names = (prefix: string): string[] =>
    [...tensors.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  return {
    config: JSON.parse(metadata.config),
    has: (n) => tensors.has(n),
    get,
    names,
    params: () => new Map(names('param/').map((k) => [k, get(`param/${k}`)])),
  };
}
