/**
 * The ONNX file format: the subset of `onnx/onnx.proto3` (ONNX IR, github.com/onnx/onnx,
 * onnx/onnx.proto3, IR version 8) that a graph of standard operators needs, as a protobufjs
 * JSON descriptor (field names and numbers as in the spec), and the encoder of a ModelProto.
 *
 * Messages kept: ModelProto, OperatorSetIdProto, StringStringEntryProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto(.Tensor),
 * TensorShapeProto(.Dimension). Nothing else (functions, sparse tensors, training info,
 * external data) is written.
 */
import protobuf from 'protobufjs';

/** TensorProto.DataType values used here (onnx.proto3, `enum DataType`). */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeName = keyof typeof DataType;

/** AttributeProto.AttributeType values (onnx.proto3, `enum AttributeType`). */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  FLOATS: 6,
  INTS: 7,
} as const;

/** The IR version written: 8 (ONNX 1.10+; opsets up to 17). */
export const IR_VERSION = 8;

type Fields = Record<string, { type: string; id: number; rule?: 'repeated' }>;
const rep = (type: string, id: number): Fields[string] => ({ type, id, rule: 'repeated' });

/** The descriptor: message name -> fields (names and numbers of onnx.proto3). */
const messages: Record<string, { fields: Fields; nested?: Record<string, { fields: Fields }> }> = {
  ModelProto: {
    fields: {
      ir_version: { type: 'int64', id: 1 },
      producer_name: { type: 'string', id: 2 },
      producer_version: { type: 'string', id: 3 },
      domain: { type: 'string', id: 4 },
      model_version: { type: 'int64', id: 5 },
      doc_string: { type: 'string', id: 6 },
      graph: { type: 'GraphProto', id: 7 },
      opset_import: rep('OperatorSetIdProto', 8),
      metadata_props: rep('StringStringEntryProto', 14),
    },
  },
  OperatorSetIdProto: {
    fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
  },
  StringStringEntryProto: {
    fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
  },
  GraphProto: {
    fields: {
      node: rep('NodeProto', 1),
      name: { type: 'string', id: 2 },
      initializer: rep('TensorProto', 5),
      doc_string: { type: 'string', id: 10 },
      input: rep('ValueInfoProto', 11),
      output: rep('ValueInfoProto', 12),
      value_info: rep('ValueInfoProto', 13),
    },
  },
  NodeProto: {
    fields: {
      input: rep('string', 1),
      output: rep('string', 2),
      name: { type: 'string', id: 3 },
      op_type: { type: 'string', id: 4 },
      attribute: rep('AttributeProto', 5),
      doc_string: { type: 'string', id: 6 },
      domain: { type: 'string', id: 7 },
    },
  },
  AttributeProto: {
    fields: {
      name: { type: 'string', id: 1 },
      f: { type: 'float', id: 2 },
      i: { type: 'int64', id: 3 },
      s: { type: 'bytes', id: 4 },
      t: { type: 'TensorProto', id: 5 },
      floats: rep('float', 7),
      ints: rep('int64', 8),
      doc_string: { type: 'string', id: 13 },
      type: { type: 'int32', id: 20 },
    },
  },
  TensorProto: {
    fields: {
      dims: rep('int64', 1),
      data_type: { type: 'int32', id: 2 },
      name: { type: 'string', id: 8 },
      raw_data: { type: 'bytes', id: 9 },
      doc_string: { type: 'string', id: 12 },
    },
  },
  ValueInfoProto: {
    fields: {
      name: { type: 'string', id: 1 },
      type: { type: 'TypeProto', id: 2 },
      doc_string: { type: 'string', id: 3 },
    },
  },
  TypeProto: {
    fields: { tensor_type: { type: 'TypeProto.Tensor', id: 1 } },
    nested: {
      Tensor: {
        fields: {
          elem_type: { type: 'int32', id: 1 },
          shape: { type: 'TensorShapeProto', id: 2 },
        },
      },
    },
  },
  TensorShapeProto: {
    fields: { dim: rep('TensorShapeProto.Dimension', 1) },
    nested: {
      Dimension: {
        fields: { dim_value: { type: 'int64', id: 1 }, dim_param: { type: 'string', id: 2 } },
      },
    },
  },
};

let modelType: protobuf.Type | null = null;

/** The ModelProto type, built once from the descriptor. */
function modelProto(): protobuf.Type {
  if (!modelType) {
    const root = protobuf.Root.fromJSON({ nested: { onnx: { nested: messages } } });
    modelType = root.lookupType('onnx.ModelProto');
  }
  return modelType;
}

/** A tensor dimension: a size, or a symbolic name (`batch_size`, `past_sequence_length`). */
export type Dim = number | string;

/** ValueInfoProto of a tensor input or output. */
export interface ValueInfo {
  name: string;
  type: {
    tensor_type: {
      elem_type: number;
      shape: { dim: ({ dim_value: number } | { dim_param: string })[] };
    };
  };
}

/** A tensor value info: name, element type and dimensions. */
export function valueInfo(name: string, elem: DataTypeName, dims: readonly Dim[]): ValueInfo {
  const dim = dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name, type: { tensor_type: { elem_type: DataType[elem], shape: { dim } } } };
}

/** TensorProto with little-endian raw_data (the spec's recommended storage). */
export interface TensorMessage {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

/**
 * A TensorProto from typed data.
 * @param data float32 (FLOAT), int32 (INT32), bigint64 (INT64) or uint8 0/1 (BOOL)
 * @throws Error naming the tensor when the element count does not match dims.
 */
export function tensorMessage(
  name: string,
  dims: readonly number[],
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array,
  elem: DataTypeName,
): TensorMessage {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n)
    throw new Error(`ONNX tensor '${name}': ${data.length} values for dims [${dims.join(', ')}]`);
  // Typed arrays are little-endian on every platform Node runs on (x86-64, arm64).
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { name, dims: [...dims], data_type: DataType[elem], raw_data: raw };
}

/** Everything a ModelProto holds here. */
export interface ModelMessage {
  graph: {
    name: string;
    node: object[];
    initializer: TensorMessage[];
    input: ValueInfo[];
    output: ValueInfo[];
    doc_string?: string;
  };
  /** The default-domain opset version (e.g. 17). */
  opset: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/**
 * Serialize a model as ONNX protobuf bytes (the `.onnx` file).
 * @throws Error from protobufjs when a message does not fit the schema.
 */
export function encodeModel(m: ModelMessage): Uint8Array {
  const type = modelProto();
  const payload = {
    ir_version: IR_VERSION,
    producer_name: m.producerName,
    producer_version: m.producerVersion,
    doc_string: m.docString ?? '',
    graph: m.graph,
    opset_import: [{ domain: '', version: m.opset }],
    metadata_props: Object.entries(m.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const err = type.verify(payload);
  if (err) throw new Error(`ONNX ModelProto: ${err}`);
  return type.encode(type.fromObject(payload)).finish();
}
