"""Which nodes lose the most to INT8: per-layer error between the float and the quantized graph.

Uses onnxruntime's ``qdq_loss_debug``: both graphs are run on the same calibration batches with every
intermediate tensor exposed; a node's score is the signal-to-quantization-noise ratio (dB) of its
output in the quantized graph against the float graph, minus the worst SNR of the float inputs it
consumes, i.e. the noise this node *adds*. Lowest first is most sensitive.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def _activations(model: str | os.PathLike, reader, tmp: Path, tag: str) -> dict:
    from onnxruntime.quantization.qdq_loss_debug import collect_activations, modify_model_output_intermediate_tensors

    aug = tmp / f"{tag}.onnx"
    modify_model_output_intermediate_tensors(str(model), str(aug))
    return collect_activations(str(aug), reader)


def rank_sensitive_nodes(prepared: str | os.PathLike, quantized: str | os.PathLike, reader,
                         exclude_types: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float]]:
    """(node names in ``prepared``, added noise in dB) per quantized unit, most sensitive first."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import compute_signal_to_quantization_noice_ratio as snr

    with tempfile.TemporaryDirectory(prefix="edgetl-sens-") as d:
        fp = _activations(prepared, reader, Path(d), "float")
        q = _activations(quantized, reader, Path(d), "qdq")
    graph = onnx.load(str(prepared), load_external_data=False).graph
    producer = {o: n for n in graph.node for o in n.output}
    scores: list[tuple[tuple[str, ...], float]] = []
    for node in graph.node:
        if node.op_type in exclude_types or not node.output or node.output[0] not in q:
            continue
        group, inputs = [node.name], list(node.input)
        # The quantizer fuses an activation (Relu/Clip) into its producer, whose own output then no
        # longer exists: treat the pair as one unit and measure from the producer's inputs.
        for i in node.input:
            if i in fp and i not in q and i in producer:
                group.insert(0, producer[i].name)
                inputs = [x for x in inputs if x != i] + list(producer[i].input)
        out_snr = snr(fp[node.output[0]], q[node.output[0]])
        in_snr = [snr(fp[i], q[i]) for i in inputs if i in fp and i in q]
        scores.append((tuple(group), float(out_snr - min(in_snr) if in_snr else out_snr)))
    scores.sort(key=lambda t: t[1])
    log.debug("most sensitive nodes: %s", scores[:10])
    return scores
