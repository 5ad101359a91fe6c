"""Per-token int8 quantization of an exported ONNX transformer (the "onnx-int8" backend's model).

ONNX Runtime's ``quantize_dynamic`` quantizes each MatMul's input with one scale for the whole batch tensor: a
value's vector then depends on the other values in its batch (and on padding), and one outlier token coarsens
every other token's grid (cosine to fp32 down to 0.93-0.96 on the published values). Here every weight MatMul
``x @ W`` becomes, with ONNX ops only:

* ``W`` int8, one symmetric scale per output column (``s_w = max|W[:, j]| / 127``);
* ``x`` uint8 with one scale per token row: symmetric around the fixed zero point 128 (``s = max|x_row| / 127``),
  or, after a GELU (whose output is >= -0.17), shifted by 0.17 and spread over 0..255 with zero point 0;
* ``MatMulIntegerToFloat`` (com.microsoft, the u8 x s8 kernel VNNI runs) with the per-row scale.

Each token row is quantized on its own, so vectors do not depend on batching (to float rounding), and the grid
follows each token's range. The attention products (activation x activation) stay fp32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: GELU's minimum (at x = -0.7518): the input of the matmul after a GELU is shifted by this to be >= 0
GELU_SHIFT = 0.17


def _after_gelu(name: str, producers: dict) -> bool:
    """Whether tensor ``name`` is the output of an (erf) GELU: an Erf within five producing nodes."""
    frontier = [name]
    for _ in range(5):
        nodes = [producers[t] for t in frontier if t in producers]
        if any(n.op_type in ("Erf", "Gelu", "BiasGelu", "FastGelu") for n in nodes):
            return True
        frontier = [i for n in nodes for i in n.input]
    return False


def quantize_per_token(src: Path, dst: Path) -> int:
    """Write ``dst``: ``src`` with every MatMul by a constant 2-D weight replaced by the per-token int8 form
    (module docstring). Returns how many MatMuls were replaced."""
    import onnx
    from onnx import TensorProto
    from onnx import helper as oh
    from onnx import numpy_helper as nh

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    nodes, extra = [], []

    def const(name: str, value) -> str:
        extra.append(nh.from_array(np.asarray(value), name))
        return name

    for name, value in {"q/eps": np.float32(1e-12), "q/zero": np.float32(0), "q/one": np.float32(1),
                        "q/255": np.float32(255), "q/128": np.float32(128), "q/zp128": np.uint8(128),
                        "q/zp0": np.uint8(0), "q/shift": np.float32(GELU_SHIFT)}.items():
        const(name, value)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=17)

    def row_max(x: str, out: str):  # max over the last axis (ReduceMax takes its axes as an input from opset 18)
        if opset >= 18:
            return oh.make_node("ReduceMax", [x, const(out + "/axes", np.array([-1], np.int64))], [out], keepdims=1)
        return oh.make_node("ReduceMax", [x], [out], axes=[-1], keepdims=1)

    count = 0
    for node in graph.node:
        weight = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2:
            nodes.append(node)
            continue
        count += 1
        p = f"q{count}/"
        W = nh.to_array(weight).astype(np.float32)
        ws = (np.maximum(np.abs(W).max(axis=0), 1e-12) / 127).astype(np.float32)
        Wq = np.clip(np.round(W / ws), -127, 127).astype(np.int8)
        x = node.input[0]
        ins = [const(p + "Wq", Wq), const(p + "ws", ws)]
        if _after_gelu(x, producers):  # x + 0.17 >= 0: all 256 levels above 0, zero point 0
            bias = (-GELU_SHIFT * (Wq.astype(np.float64) * ws).sum(axis=0)).astype(np.float32)
            nodes += [
                oh.make_node("Add", [x, "q/shift"], [p + "x"]),
                row_max(p + "x", p + "max"),
                oh.make_node("Mul", [p + "max", const(p + "inv", np.float32(1 / 255))], [p + "s0"]),
            ]
            x_in, offset, low, zero_point, after = p + "x", None, "q/zero", "q/zp0", bias
        else:  # symmetric around 128
            nodes += [
                oh.make_node("Abs", [x], [p + "abs"]),
                row_max(p + "abs", p + "max"),
                oh.make_node("Mul", [p + "max", const(p + "inv", np.float32(1 / 127))], [p + "s0"]),
            ]
            x_in, offset, low, zero_point, after = x, "q/128", "q/one", "q/zp128", None
        nodes += [
            oh.make_node("Max", [p + "s0", "q/eps"], [p + "s"]),
            oh.make_node("Div", [x_in, p + "s"], [p + "xs"]),
            oh.make_node("Round", [p + "xs"], [p + "xr"]),
        ]
        rounded = p + "xr"
        if offset is not None:
            nodes.append(oh.make_node("Add", [rounded, offset], [p + "xo"]))
            rounded = p + "xo"
        nodes += [
            oh.make_node("Clip", [rounded, low, "q/255"], [p + "xc"]),
            oh.make_node("Cast", [p + "xc"], [p + "xq"], to=TensorProto.UINT8),
        ]
        # (MatMulIntegerToFloat's own bias input gave wrong results with no b_zero_point: a separate Add)
        out = list(node.output) if after is None else [p + "y"]
        nodes.append(oh.make_node("MatMulIntegerToFloat", [p + "xq", ins[0], p + "s", ins[1], zero_point], out,
                                  domain="com.microsoft", name=(node.name or p) + "/int8"))
        if after is not None:
            nodes.append(oh.make_node("Add", [p + "y", const(p + "bias", after)], list(node.output)))
    graph.ClearField("node")
    graph.node.extend(nodes)
    graph.initializer.extend(extra)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(oh.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(dst))
    return count
