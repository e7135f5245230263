"""A BERT encoder as an ONNX graph, built from a sentence-transformers model's safetensors.

onnxruntime runs the graph with fused kernels on one thread; exporting it from PyTorch would
mean importing torch (6 to 16 s on a busy two-core machine) on every load, so the graph is
written here from the weights. The `onnx` package would write it too, but importing it costs
1.5 s (its `ml_dtypes` extension), more than the graph: the few messages needed are written
below in protobuf's wire format (onnx.proto3 gives the field numbers). With `quantize` the dense
layers' weights are int8 with a scale per output column and their inputs are quantized per
call (`DynamicQuantizeMatMul`, what `onnxruntime.quantization.quantize_dynamic` writes with
`per_channel`); the attention products between activations stay in float32.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Inputs of the graph, all computed by the caller: token ids, token types and positions
#: (int64, batch x tokens) and the additive attention mask (float32, batch x 1 x 1 x tokens).
INPUTS = ("input_ids", "token_type_ids", "position_ids", "mask_bias")
#: Opset of the standard operators (LayerNormalization needs 17) and the IR version it needs.
OPSET = 17
IR_VERSION = 8


# ---------------------------------------------------------------------------------------------
# protobuf wire format: a message is its fields' (key, value) bytes one after another


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int64 is its two's complement, ten bytes
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def _many(field: int, messages: Iterable[bytes]) -> bytes:
    return b"".join(_bytes(field, m) for m in messages)


#: TensorProto.DataType of the arrays the graph holds
_FLOAT, _INT8, _INT64 = 1, 3, 7
_DTYPES = {np.dtype(np.float32): _FLOAT, np.dtype(np.int8): _INT8, np.dtype(np.int64): _INT64}


def _initializer(name: str, value: NDArray[Any]) -> list[bytes | memoryview]:
    """A GraphProto `initializer` field (a TensorProto) as pieces: the weights' bytes are
    written once, by the final join, not copied into each enclosing message."""
    array = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
    head = (b"".join(_int(1, d) for d in array.shape) + _int(2, _DTYPES[array.dtype]) + _bytes(8, name)
            + _varint(9 << 3 | 2) + _varint(array.nbytes))
    return [_varint(5 << 3 | 2) + _varint(len(head) + array.nbytes) + head, array.data.cast("B")]


def _attribute(name: str, value: float | int | list[int]) -> bytes:  # AttributeProto
    if isinstance(value, float):
        return _bytes(1, name) + _float(2, value) + _int(20, 1)
    if isinstance(value, int):
        return _bytes(1, name) + _int(3, value) + _int(20, 2)
    return _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, 7)


def _node(op: str, inputs: list[str], outputs: list[str], domain: str, attrs: dict[str, Any]) -> bytes:
    return (_many(1, (i.encode() for i in inputs)) + _many(2, (o.encode() for o in outputs)) + _bytes(4, op)
            + _many(5, (_attribute(k, v) for k, v in attrs.items())) + (_bytes(7, domain) if domain else b""))


def _value_info(name: str, elem_type: int, dims: list[int | str]) -> bytes:  # ValueInfoProto
    shape = _many(1, (_int(1, d) if isinstance(d, int) else _bytes(2, d) for d in dims))
    return _bytes(1, name) + _bytes(2, _bytes(1, _int(1, elem_type) + _bytes(2, shape)))


def build_graph(weights: dict[str, NDArray[Any]], config: dict[str, Any], *, quantize: bool) -> bytes:
    """The serialised ONNX model of `config`'s BERT with `weights`; its one output, `hidden`,
    is the last layer's states (batch x tokens x width)."""
    nodes: list[bytes] = []
    inits: list[bytes | memoryview] = []
    count = iter(range(1 << 30))

    def const(value: NDArray[Any], name: str | None = None) -> str:
        name = name or f"c{next(count)}"
        inits.extend(_initializer(name, value))
        return name

    def node(op: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        out = f"t{next(count)}"
        nodes.append(_node(op, inputs, [out], domain, attrs))
        return out

    eps = float(config.get("layer_norm_eps", 1e-12))
    width = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head = width // heads

    def layer_norm(x: str, prefix: str) -> str:
        return node("LayerNormalization", [x, const(weights[prefix + ".weight"]), const(weights[prefix + ".bias"])],
                    axis=-1, epsilon=eps)

    def dense(x: str, prefix: str) -> str:
        w = weights[prefix + ".weight"].T.astype(np.float32)  # (in, out)
        bias = const(weights[prefix + ".bias"].astype(np.float32))
        if not quantize:
            return node("Add", [node("MatMul", [x, const(w)]), bias])
        # symmetric int8, one scale per output column: the column's largest weight is 127
        scale = np.maximum(np.abs(w).max(axis=0), 1e-12).astype(np.float32) / np.float32(127.0)
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        return node("DynamicQuantizeMatMul", [x, const(q), const(scale), const(np.zeros(w.shape[1], np.int8)), bias],
                    domain="com.microsoft")

    emb = "embeddings."
    x = node("Add", [
        node("Add", [node("Gather", [const(weights[emb + "word_embeddings.weight"]), "input_ids"]),
                     node("Gather", [const(weights[emb + "position_embeddings.weight"]), "position_ids"])]),
        node("Gather", [const(weights[emb + "token_type_embeddings.weight"]), "token_type_ids"]),
    ])
    x = layer_norm(x, emb + "LayerNorm")
    split = const(np.array([0, 0, heads, head], dtype=np.int64))
    merge = const(np.array([0, 0, width], dtype=np.int64))
    scale = const(np.array(1.0 / np.sqrt(head), dtype=np.float32))
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."

        def heads_of(name: str, perm: list[int], x: str = x, p: str = p) -> str:
            return node("Transpose", [node("Reshape", [dense(x, p + "attention.self." + name), split])], perm=perm)

        q, k, v = heads_of("query", [0, 2, 1, 3]), heads_of("key", [0, 2, 3, 1]), heads_of("value", [0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), "mask_bias"])
        context = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        context = node("Reshape", [node("Transpose", [context], perm=[0, 2, 1, 3]), merge])
        x = layer_norm(node("Add", [x, dense(context, p + "attention.output.dense")]), p + "attention.output.LayerNorm")
        inner = node("Gelu", [dense(x, p + "intermediate.dense")], domain="com.microsoft")  # exact (erf) GELU
        x = layer_norm(node("Add", [x, dense(inner, p + "output.dense")]), p + "output.LayerNorm")
    nodes.append(_node("Identity", [x], ["hidden"], "", {}))
    graph = [_many(1, nodes), _bytes(2, "bert"), *inits,
             _many(11, [_value_info(n, _INT64, ["batch", "tokens"]) for n in INPUTS[:3]]
                   + [_value_info("mask_bias", _FLOAT, ["batch", 1, 1, "tokens"])]),
             _bytes(12, _value_info("hidden", _FLOAT, ["batch", "tokens", width]))]
    opsets = [_int(2, OPSET), _bytes(1, "com.microsoft") + _int(2, 1)]  # OperatorSetIdProto
    return b"".join([_int(1, IR_VERSION), _bytes(2, "newswatch"),
                     _varint(7 << 3 | 2), _varint(sum(len(piece) for piece in graph)), *graph, _many(8, opsets)])
