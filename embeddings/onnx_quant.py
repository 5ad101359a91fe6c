"""Per-token int8 quantization of an exported ONNX transformer (the "onnx-int8" backend's model).

ONNX Runtime's ``quantize_dynamic`` quantizes each MatMul's input with one scale for the whole batch tensor: a
value's vector then depends on the other values in its batch (and on padding), and one outlier token coarsens
every other token's grid (cosine to fp32 down to 0.93-0.96 on the published values). Here every weight MatMul
``x @ W`` becomes, with ONNX ops only:

* ``W`` int8, one symmetric scale per output column (``s_w = max|W[:, j]| / 127``);
* ``x`` uint8 with one scale per token row: symmetric around the fixed zero point 128 (``s = max|x_row| / 127``),
  or, after a GELU (whose output is >= -0.17), shifted by 0.17 and spread over 0..255 with zero point 0;
* ``MatMulIntegerToFloat`` (com.microsoft, the u8 x s8 kernel VNNI runs) with the per-row scale.

The row scale is ``ReduceMax`` of ``|x|`` (or of ``x + 0.17``); the rows are then quantized by one
``QuantizeLinear`` along the flattened row axis (the same rounding as Div, Round, Add, Clip and Cast, in one pass
instead of five), and a tensor that feeds several MatMuls (the query, key and value projections) is quantized
once. Each token row is quantized on its own, so vectors do not depend on batching, and the grid follows each
token's range. The attention products (activation x activation) stay fp32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: GELU's minimum (at x = -0.7518): the input of the matmul after a GELU is shifted by this to be >= 0
GELU_SHIFT = 0.17
#: fused GELU ops (ONNX opset 20, com.microsoft): their output is >= -0.17 too
FUSED_GELU = ("Gelu", "BiasGelu", "FastGelu")


def _scalar(name: str, inits: dict, producers: dict) -> float | None:
    """The value of a one-element constant (initializer or Constant node), else None."""
    from onnx import helper as oh
    from onnx import numpy_helper as nh

    if name in inits:
        arr = nh.to_array(inits[name])
    elif name in producers and producers[name].op_type == "Constant":
        attrs = {a.name: oh.get_attribute_value(a) for a in producers[name].attribute}
        if "value" not in attrs:
            return None
        arr = nh.to_array(attrs["value"])
    else:
        return None
    return float(arr.reshape(-1)[0]) if arr.size == 1 else None


def _mul_leaves(name: str, producers: dict, depth: int) -> list[str]:
    """The factors of a product: ``name`` expanded through Mul nodes, ``depth`` levels deep."""
    node = producers.get(name)
    if depth > 0 and node is not None and node.op_type == "Mul":
        return [leaf for i in node.input for leaf in _mul_leaves(i, producers, depth - 1)]
    return [name]


def _erf_term(name: str, inits: dict, producers: dict) -> str | None:
    """``h`` when ``name`` is ``1 + erf(h / sqrt 2)`` (Add of 1 and Erf of Div by sqrt 2 or Mul by 1/sqrt 2)."""
    add = producers.get(name)
    if add is None or add.op_type != "Add" or len(add.input) != 2:
        return None
    for erf_out, one in (add.input, add.input[::-1]):
        erf = producers.get(erf_out)
        if erf is None or erf.op_type != "Erf" or not _near(_scalar(one, inits, producers), 1.0):
            continue
        div = producers.get(erf.input[0])
        if div is None or div.op_type not in ("Div", "Mul"):
            continue
        c = _scalar(div.input[1], inits, producers)
        if _near(c, np.sqrt(2) if div.op_type == "Div" else 1 / np.sqrt(2)):
            return div.input[0]
    return None


def _near(value: float | None, target: float) -> bool:
    return value is not None and abs(value - target) <= 1e-3 * abs(target)


def _after_gelu(name: str, producers: dict, inits: dict | None = None) -> bool:
    """Whether tensor ``name`` is the output of a GELU: a fused GELU node, or the erf form as torch exports it,
    ``0.5 * h * (1 + erf(h / sqrt 2))`` (two Muls in either grouping). Anything else, however close an Erf
    is, is not: its input gets the symmetric grid, which is right for any sign."""
    inits = inits or {}
    node = producers.get(name)
    if node is None:
        return False
    if node.op_type in FUSED_GELU:
        return True
    if node.op_type != "Mul":
        return False
    leaves = _mul_leaves(name, producers, 2)
    if len(leaves) != 3:
        return False
    for i, leaf in enumerate(leaves):
        h = _erf_term(leaf, inits, producers)
        rest = leaves[:i] + leaves[i + 1 :]
        if h is not None and h in rest and _near(_scalar(rest[rest.index(h) - 1], inits, producers), 0.5):
            return True
    return False


def quantize_per_token(src: Path, dst: Path) -> int:
    """Write ``dst``: ``src`` with every MatMul by a constant 2-D weight replaced by the per-token int8 form
    (module docstring). Returns how many MatMuls were replaced."""
    import onnx
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

    for name, value in {"q/eps": np.float32(1e-12), "q/zp128": np.uint8(128), "q/zp0": np.uint8(0),
                        "q/shift": np.float32(GELU_SHIFT), "q/flat": np.array([-1], np.int64)}.items():
        const(name, value)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=17)

    def row_max(x: str, out: str):  # max over the last axis (ReduceMax takes its axes as an input from opset 18)
        if opset >= 18:
            return oh.make_node("ReduceMax", [x, const(out + "/axes", np.array([-1], np.int64))], [out], keepdims=1)
        return oh.make_node("ReduceMax", [x], [out], axes=[-1], keepdims=1)

    quantized: dict[str, tuple[str, str, str]] = {}  # input tensor -> (uint8 tensor, row scales, zero point)

    def quantize(x: str, width: int, p: str) -> tuple[str, str, str]:
        """``x`` as uint8 with one scale per row (the last axis), once per tensor (Q, K and V share theirs)."""
        if x in quantized:
            return quantized[x]
        if _after_gelu(x, producers, inits):  # x + 0.17 >= 0: all 256 levels above 0, zero point 0
            nodes.append(oh.make_node("Add", [x, "q/shift"], [p + "x"]))
            x_in, top, zero_point = p + "x", 255, "q/zp0"
        else:  # symmetric around 128
            nodes.append(oh.make_node("Abs", [x], [p + "x"]))
            x_in, top, zero_point = x, 127, "q/zp128"
        nodes.extend([
            row_max(p + "x", p + "max"),
            oh.make_node("Mul", [p + "max", const(p + "inv", np.float32(1 / top))], [p + "s0"]),
            oh.make_node("Max", [p + "s0", "q/eps"], [p + "s"]),
            # QuantizeLinear quantizes along one axis: the rows flattened to 2-D, one scale each
            oh.make_node("Reshape", [p + "s", "q/flat"], [p + "s1"]),
            oh.make_node("Reshape", [x_in, const(p + "rows", np.array([-1, width], np.int64))], [p + "x2"]),
            oh.make_node("Shape", [x_in], [p + "shape"]),
        ])
        zp_in = []
        if zero_point == "q/zp128":  # a per-axis zero point has one entry per row
            nodes.extend([oh.make_node("Shape", [p + "s1"], [p + "n"]),
                          oh.make_node("Expand", ["q/zp128", p + "n"], [p + "zp"])])
            zp_in = [p + "zp"]
        nodes.extend([
            oh.make_node("QuantizeLinear", [p + "x2", p + "s1", *zp_in], [p + "xq2"], axis=0),
            oh.make_node("Reshape", [p + "xq2", p + "shape"], [p + "xq"]),
        ])
        quantized[x] = (p + "xq", p + "s", zero_point)
        return quantized[x]

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
        xq, scale, zero_point = quantize(node.input[0], W.shape[0], p)
        shifted = zero_point == "q/zp0"
        # (MatMulIntegerToFloat's own bias input gave wrong results with no b_zero_point: a separate Add)
        out = [p + "y"] if shifted else list(node.output)
        nodes.append(oh.make_node("MatMulIntegerToFloat", [xq, const(p + "Wq", Wq), scale, const(p + "ws", ws),
                                                           zero_point],
                                  out, domain="com.microsoft", name=(node.name or p) + "/int8"))
        if shifted:  # (x + 0.17) @ W - 0.17 * colsum(W)
            bias = (-GELU_SHIFT * (Wq.astype(np.float64) * ws).sum(axis=0)).astype(np.float32)
            nodes.append(oh.make_node("Add", [p + "y", const(p + "bias", bias)], list(node.output)))
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
