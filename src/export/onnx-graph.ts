/**
 * Building an ONNX graph (ONNX IR spec, github.com/onnx/onnx docs/IR.md, "Graphs"): named
 * inputs and outputs, initializers (our float32 parameters, under our state-dict names) and
 * nodes of standard operators in topological order, each producing named values. `toBytes`
 * emits the ModelProto (onnx-proto.ts).
 *
 * Attributes: a plain number is an INT, a number array INTS, a string STRING, and
 * `{ f: x }` a FLOAT (ONNX distinguishes them; 1 and 1.0 are different attributes).
 */
import type { Tensor } from '../tensor.js';
import type { Module } from '../nn/module.js';
import {
  AttributeType,
  encodeModel,
  tensorMessage,
  valueInfo,
  type DataTypeName,
  type Dim,
  type TensorMessage,
  type ValueInfo,
} from './onnx-proto.js';

/** Every parameter and buffer of a module -> its state-dict name (the first name of a shared one). */
export function parameterNames(model: Module): Map<Tensor, string> {
  const out = new Map<Tensor, string>();
  for (const [name, t] of model.stateDict()) if (!out.has(t)) out.set(t, name);
  return out;
}

/** The default-domain opset of every exported graph (LayerNormalization needs 17). */
export const OPSET = 17;

/** An attribute value: INT, INTS, STRING or FLOAT (`{ f }`). */
export type Attr = number | readonly number[] | string | { f: number };

interface NodeMessage {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: object[];
}

function attribute(name: string, v: Attr): object {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`ONNX attribute '${name}': ${v} is not an integer`);
    return { name, type: AttributeType.INT, i: v };
  }
  if (typeof v === 'string')
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: [...(v as number[])] };
  return { name, type: AttributeType.FLOAT, f: (v as { f: number }).f };
}

/** An ONNX graph under construction. */
export class OnnxGraph {
  private readonly nodes: NodeMessage[] = [];
  private readonly inits: TensorMessage[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;
  private readonly added = new Map<Tensor, string>();

  /**
   * @param name the graph's name
   * @param paramNames the model's tensors -> state-dict names (`weight` uses them), e.g.
   *   from parameterNames(model)
   */
  constructor(
    readonly name: string,
    private readonly paramNames: ReadonlyMap<Tensor, string> = new Map(),
  ) {}

  private claim(name: string): string {
    if (this.names.has(name))
      throw new Error(`ONNX graph '${this.name}': value '${name}' defined twice`);
    this.names.add(name);
    return name;
  }

  /** A fresh value name from a stem (`MatMul_12`). */
  fresh(stem: string): string {
    let n: string;
    do n = `${stem}_${this.counter++}`;
    while (this.names.has(n));
    return n;
  }

  /** Declare a graph input. @returns its name */
  input(name: string, elem: DataTypeName, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), elem, dims));
    return name;
  }

  /** Declare a graph output `name` holding value `from` (an Identity node when renamed). */
  output(name: string, from: string, elem: DataTypeName, dims: readonly Dim[]): void {
    if (from !== name) this.op('Identity', [from], {}, name);
    this.outputs.push(valueInfo(name, elem, dims));
  }

  /**
   * A float32 initializer from a parameter, under the parameter's name.
   * @param t contiguous float32 tensor (our parameters are)
   * @throws Error naming the parameter when it is not float32.
   */
  param(name: string, t: Tensor): string {
    if (t.dtype !== 'float32')
      throw new Error(`ONNX initializer '${name}': ${t.dtype}, expected float32`);
    this.inits.push(tensorMessage(this.claim(name), t.shape, t.f32.slice(), 'FLOAT'));
    return name;
  }

  /**
   * The initializer of a model tensor under its state-dict name, added on first use (a tied
   * weight used twice is stored once).
   * @throws Error when the tensor is not float32.
   */
  weight(t: Tensor): string {
    const hit = this.added.get(t);
    if (hit) return hit;
    const name = this.param(this.paramNames.get(t) ?? this.fresh('param'), t);
    this.added.set(t, name);
    return name;
  }

  /** A float32 initializer from raw values (tables such as the sinusoids). */
  floats(name: string, dims: readonly number[], data: Float32Array): string {
    this.inits.push(tensorMessage(this.claim(name), dims, data, 'FLOAT'));
    return name;
  }

  /** A constant int64 tensor (shape vectors, axes, indices), shared by value. @param dims default [n] */
  ints(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join(',')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.claim(this.fresh('const_i64'));
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.inits.push(tensorMessage(name, dims, data, 'INT64'));
    this.constCache.set(key, name);
    return name;
  }

  /** A constant float32 scalar (shape []), shared by value. */
  scalar(value: number): string {
    const key = `f32:${value}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.floats(this.fresh('const_f32'), [], new Float32Array([value]));
    this.constCache.set(key, name);
    return name;
  }

  /**
   * Append a node with one output.
   * @param out the output's name (default: a fresh one)
   * @returns the output's name
   */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, Attr> = {},
    out?: string,
  ): string {
    return this.opN(opType, inputs, 1, attrs, out ? [out] : undefined)[0];
  }

  /** Append a node with `n` outputs (Split). @returns the outputs' names */
  opN(
    opType: string,
    inputs: readonly string[],
    n: number,
    attrs: Record<string, Attr> = {},
    outs?: readonly string[],
  ): string[] {
    const output = outs
      ? outs.map((o) => this.claim(o))
      : Array.from({ length: n }, () => this.claim(this.fresh(opType)));
    this.nodes.push({
      name: this.fresh(`n_${opType}`),
      op_type: opType,
      input: [...inputs],
      output,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  /** Serialize as an ONNX model file (ModelProto bytes) at default-domain opset `opset`. */
  toBytes(opset: number, metadata: Record<string, string> = {}, docString = ''): Uint8Array {
    return encodeModel({
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs,
        output: this.outputs,
      },
      opset,
      producerName: 'transformer-ts',
      producerVersion: '0.1.0',
      docString,
      metadata,
    });
  }
}
