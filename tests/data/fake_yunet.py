"""A stand-in for YuNet's ONNX file, so the YuNet backend is tested through OpenCV's real decoder offline.

It has YuNet 2023mar's interface: input ``input`` (1, 3, H, W) BGR 0..255, and for each stride s in
8, 16, 32 the outputs cls_s / obj_s (1, cells, 1), bbox_s (1, cells, 4) and kps_s (1, cells, 10),
cells in row-major order. Only stride-32 cells whose mean brightness exceeds 200 score high; each
predicts a box of ``2 * 32`` px centred on the cell centre and fixed landmark offsets (``KPS``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

KPS = (0.3, 0.3, 0.7, 0.3, 0.5, 0.5, 0.35, 0.7, 0.65, 0.7)  # (x, y) offsets in cells, YuNet's landmark order
BOX_LOG_SIZE = math.log(2.0)


def write_fake_yunet(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    nodes, inits, outputs = [], [], []

    def const(name: str, values) -> str:
        inits.append(helper.make_tensor(name, TensorProto.FLOAT, [len(values), 1, 1], list(map(float, values))))
        return name

    for stride in (8, 16, 32):
        s = str(stride)
        nodes.append(helper.make_node("AveragePool", ["input"], [f"pool{s}"], kernel_shape=[stride, stride], strides=[stride, stride]))
        nodes.append(helper.make_node("ReduceMean", [f"pool{s}"], [f"gray{s}"], axes=[1], keepdims=1))
        zero = const(f"zero{s}", [0.0])
        nodes.append(helper.make_node("Mul", [f"gray{s}", zero], [f"z{s}"]))  # (1, 1, h, w) zeros of the right size
        bias = const(f"bias{s}", [-200.0 if stride == 32 else -1e4])
        nodes.append(helper.make_node("Add", [f"gray{s}", bias], [f"shift{s}"]))
        gain = const(f"gain{s}", [0.5])
        nodes.append(helper.make_node("Mul", [f"shift{s}", gain], [f"logit{s}"]))
        nodes.append(helper.make_node("Sigmoid", [f"logit{s}"], [f"score{s}"]))
        for head, values in (("bbox", (0.5, 0.5, BOX_LOG_SIZE, BOX_LOG_SIZE)), ("kps", KPS)):
            offsets = const(f"{head}_offsets{s}", values)
            nodes.append(helper.make_node("Add", [f"z{s}", offsets], [f"{head}_map{s}"]))  # (1, k, h, w)
        for head, source, width in (("cls", f"score{s}", 1), ("obj", f"score{s}", 1), ("bbox", f"bbox_map{s}", 4), ("kps", f"kps_map{s}", 10)):
            nodes.append(helper.make_node("Transpose", [source], [f"{head}_t{s}"], perm=[0, 2, 3, 1]))
            shape = f"{head}_shape{s}"
            inits.append(helper.make_tensor(shape, TensorProto.INT64, [3], [1, -1, width]))
            nodes.append(helper.make_node("Reshape", [f"{head}_t{s}", shape], [f"{head}_{s}"]))
    for head, width in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
        for stride in (8, 16, 32):
            outputs.append(helper.make_tensor_value_info(f"{head}_{stride}", TensorProto.FLOAT, [1, f"cells{stride}", width]))
    graph = helper.make_graph(nodes, "fake_yunet", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "H", "W"])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def bright_cell_image(row: int, col: int, size: int = 320) -> np.ndarray:
    """A black BGR image with one white 32 x 32 cell at (row, col) of the stride-32 grid."""
    image = np.zeros((size, size, 3), np.uint8)
    image[row * 32:(row + 1) * 32, col * 32:(col + 1) * 32] = 255
    return image


def expected_face(row: int, col: int) -> tuple[tuple[float, float, float, float], np.ndarray]:
    """The box (x, y, w, h) and landmarks (5, 2) the fake model predicts for a bright cell."""
    cx, cy, side = (col + 0.5) * 32, (row + 0.5) * 32, 2.0 * 32
    landmarks = (np.array(KPS, np.float32).reshape(5, 2) + [col, row]) * 32
    return (cx - side / 2, cy - side / 2, side, side), landmarks
