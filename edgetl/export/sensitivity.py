"""Which tensors lose the most to INT8, and which nodes must stay float to spare them.

Each quantized activation is judged on the *float* graph's values: they are run through the scale and
zero point the quantized graph gives that tensor, and compared with themselves (signal-to-quantization-
noise ratio, dB). Judging on float values keeps one badly calibrated tensor from hiding behind the
noise it causes downstream. Weights are compared float vs dequantized with onnxruntime's
``qdq_loss_debug``. A tensor stays float only if its producer *and* all its consumers are excluded from
quantization (onnxruntime quantizes a tensor for any quantized node touching it), so each ranked unit
is that group of nodes.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _qparams(quantized) -> dict[str, tuple[float, int, int, int]]:
    """tensor -> (scale, zero point, qmin, qmax) of every per-tensor QuantizeLinear in the graph."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in quantized.graph.initializer}
    out = {}
    for n in quantized.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[1] not in inits or inits[n.input[1]].size != 1:
            continue
        zp = inits.get(n.input[2]) if len(n.input) > 2 else None
        info = np.iinfo(zp.dtype if zp is not None else np.uint8)
        out[n.input[0]] = (float(inits[n.input[1]]), int(zp) if zp is not None else 0, int(info.min), int(info.max))
    return out


def _snr_db(x: np.ndarray, y: np.ndarray) -> float:
    eps = np.finfo(np.float32).eps
    return float(20 * np.log10(max(np.linalg.norm(x), eps) / max(np.linalg.norm(x - y), eps)))


def _float_activations(prepared: str | os.PathLike, reader) -> dict[str, np.ndarray]:
    from onnxruntime.quantization import qdq_loss_debug as dbg

    with tempfile.TemporaryDirectory(prefix="edgetl-sens-") as d:
        aug = Path(d) / "float.onnx"
        dbg.modify_model_output_intermediate_tensors(str(prepared), str(aug))
        return {k: np.concatenate([a.ravel() for a in v]) for k, v in dbg.collect_activations(str(aug), reader).items()}


def rank_sensitive_nodes(prepared: str | os.PathLike, quantized: str | os.PathLike,
                         reader) -> list[tuple[tuple[str, ...], float]]:
    """(node names in ``prepared`` to keep float, SNR in dB) per quantized tensor, worst first."""
    import onnx
    from onnxruntime.quantization import qdq_loss_debug as dbg

    acts = _float_activations(prepared, reader)
    snr = {}
    for tensor, (scale, zp, lo, hi) in _qparams(onnx.load(str(quantized))).items():
        if tensor in acts:
            x = acts[tensor]
            snr[tensor] = _snr_db(x, (np.clip(np.round(x / scale) + zp, lo, hi) - zp) * scale)
    snr.update(dbg.compute_weight_error(dbg.create_weight_matching(str(prepared), str(quantized))))
    graph = onnx.load(str(prepared), load_external_data=False).graph
    producer = {o: n.name for n in graph.node for o in n.output}
    consumers: dict[str, list[str]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.name)
    units = []
    for tensor, db in snr.items():
        names = [producer[tensor]] if tensor in producer else []
        names += [c for c in consumers.get(tensor, []) if c not in names]
        if names:
            units.append((tuple(names), float(db)))
    units.sort(key=lambda u: u[1])
    log.debug("most sensitive tensors: %s", units[:10])
    return units
