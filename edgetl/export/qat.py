"""Quantization-aware training (QAT): fine-tune through fake quantizers that match the target preset.

Built on torch's pt2e quantization flow (``torchao.quantization.pt2e``; README, "Quantization-aware
training", says why this library). The steps:

1. BatchNorm is folded into the convolutions first (``torch.fx.experimental.optimization.fuse``), exactly as
   the FP32 ONNX export folds it, so the weights trained are the weights the Q/DQ graph quantizes.
2. ``torch.export`` captures the folded model and ``EdgetlQuantizer`` annotates it for the preset: the
   integer types, ranges and schemes come from the preset through onnxruntime's own range table
   (``get_qmin_qmax_for_qType``), so QAT simulates the arithmetic PTQ would write for that target.
3. Activation ranges are calibrated with MinMax on the PTQ calibration images and then held; weight
   scales follow the weights (per output channel, from their current extremes) as PTQ computes them.
4. finetune's loop trains every weight for a few epochs at a low learning rate (``edgetl.train.qat``; this is
   the one export step that trains, so it uses the training package, which never imports export).
5. ``convert_pt2e`` turns the fake quantizers into quantize/dequantize ops (weights become INT8
   constants) and torch's ONNX exporter writes them as QuantizeLinear/DequantizeLinear.

Where the Q/DQ nodes go is the target's *placement* (``PLACEMENTS``): ``tensorrt`` follows TensorRT's
explicit-quantization rules (Q/DQ on every Conv/Gemm input, weights as per-channel DQ of INT8
constants, the residual input of each Add quantized so TensorRT can fuse the Add into the Conv before
it, outputs of weighted layers left to TensorRT, one Q/DQ pair per consumer); ``onnxruntime`` puts
Q/DQ where onnxruntime's CPU integer kernels need them (Conv/Gemm inputs and outputs with ReLU/ReLU6
folded into the output range, INT32 biases, Adds in and out), which is where its own PTQ puts them.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from edgetl.data.images import ImageSet
from edgetl.data.samples import SplitData
from edgetl.errors import ExportError, MissingDependencyError
from edgetl.export.onnx_export import INPUT_NAME, MAX_OPSET, OUTPUT_NAME, PROBS_NAME, WithSoftmax
# the constants are re-exported: edgetl.export.qat.DEFAULT_LR and friends keep working
from edgetl.export.qat_config import DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_MAX_SPEED_COST, QAT_MODES, QatConfig  # noqa: F401
from edgetl.export.quantize import TargetPreset
from edgetl.registry import Registry
from edgetl.spec import ModelInfo
from edgetl.train.finetune import Callbacks, FinetuneConfig
from edgetl.train.qat import QatTraining, qat_recipe, train_prepared

log = logging.getLogger(__name__)

MIN_EXPORT_OPSET = 18  # torch's ONNX exporter for exported programs writes opset 18 and up
_ATEN = torch.ops.aten
_WEIGHTED = (_ATEN.conv2d.default, _ATEN.linear.default)
_RELUS = (_ATEN.relu.default, _ATEN.relu_.default, _ATEN.hardtanh.default, _ATEN.hardtanh_.default)
_ADDS = (_ATEN.add.Tensor, _ATEN.add_.Tensor)


# ------------------------------------------------------------------------------------------ the scheme

@dataclass(frozen=True)
class Placement:
    """Where one target runtime wants Q/DQ nodes; ``annotate`` marks a captured graph accordingly."""

    name: str
    description: str
    annotate: Callable[[torch.fx.GraphModule, "Specs"], None]


PLACEMENTS: Registry[Placement] = Registry("Q/DQ placement")
# target preset -> placement; a target not named here uses 'onnxruntime' if it is timed on this CPU
TARGET_PLACEMENT = {"tensorrt": "tensorrt", "cpu": "onnxruntime"}


@dataclass(frozen=True)
class Specs:
    """pt2e quantization specs for one preset: activations, weights, and whether biases are INT32."""

    activation: Any
    weight: Any
    int32_bias: bool


def _torchao():
    """torchao's pt2e modules, imported on first use (it is an optional dependency)."""
    try:
        with _quiet():  # torchao's import-time deprecation notices are not the user's concern
            from torchao.quantization import pt2e
            from torchao.quantization.pt2e import quantize_pt2e, quantizer
    except ImportError as exc:
        raise MissingDependencyError(
            "quantization-aware training needs torchao, the PyTorch quantization library built for your torch: "
            "pip install 'edgetl[qat]' (or a torchao release that matches your torch)") from exc
    return pt2e, quantize_pt2e, quantizer


def _ort_range(kind: str, symmetric: bool, reduce_range: bool) -> tuple[int, int]:
    """The integer range onnxruntime's quantizer uses for this type and scheme (its own table)."""
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import get_qmin_qmax_for_qType

    qmin, qmax = get_qmin_qmax_for_qType(TensorProto.INT8 if kind == "int8" else TensorProto.UINT8,
                                         reduce_range=reduce_range, symmetric=symmetric)
    return int(qmin), int(qmax)


def preset_specs(preset: TargetPreset) -> Specs:
    """The fake quantizers that simulate ``preset``: types, ranges, symmetry and granularity as PTQ writes."""
    pt2e, _, q = _torchao()
    if preset.quant_format != "qdq":
        raise ExportError(f"target {preset.name!r} writes {preset.quant_format} graphs; QAT exports Q/DQ only")
    dtypes = {"int8": torch.int8, "uint8": torch.uint8}
    # reduce_range narrows weights only: onnxruntime quantizes activations over the full range
    lo, hi = _ort_range(preset.activation_type, preset.activation_symmetric, False)
    scheme = torch.per_tensor_symmetric if preset.activation_symmetric else torch.per_tensor_affine
    act_kw = dict(dtype=dtypes[preset.activation_type], quant_min=lo, quant_max=hi, qscheme=scheme)
    activation = q.QuantizationSpec(**act_kw, observer_or_fake_quant_ctr=pt2e.FakeQuantize.with_args(
        observer=pt2e.MinMaxObserver, **act_kw))
    lo, hi = _ort_range(preset.weight_type, preset.weight_symmetric, preset.reduce_range)
    if preset.per_channel:
        scheme = torch.per_channel_symmetric if preset.weight_symmetric else torch.per_channel_affine
        observer, axis = pt2e.MovingAveragePerChannelMinMaxObserver, {"ch_axis": 0}
    else:
        scheme = torch.per_tensor_symmetric if preset.weight_symmetric else torch.per_tensor_affine
        observer, axis = pt2e.MovingAverageMinMaxObserver, {}
    w_kw = dict(dtype=dtypes[preset.weight_type], quant_min=lo, quant_max=hi, qscheme=scheme, **axis)
    # averaging_constant=1: the scale follows the current weights, as PTQ computes it from the final ones
    weight = q.QuantizationSpec(**w_kw, observer_or_fake_quant_ctr=pt2e.FakeQuantize.with_args(
        observer=observer, averaging_constant=1.0, **w_kw))
    int32_bias = bool((preset.extra_options or {}).get("QuantizeBias", True))
    return Specs(activation, weight, int32_bias)


def placement_for(preset: TargetPreset) -> Placement:
    name = TARGET_PLACEMENT.get(preset.name) or ("onnxruntime" if preset.speed_gate else None)
    if name is None:
        raise ExportError(f"QAT has no Q/DQ placement for target {preset.name!r}: add it to "
                          f"edgetl.export.qat.TARGET_PLACEMENT (one of {', '.join(PLACEMENTS)})")
    return PLACEMENTS.get(name)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch's and torchao's warnings and export chatter about their own internals."""
    noisy = [logging.getLogger(n) for n in ("torch.utils._pytree", "torch.export", "torch.onnx", "torch._dynamo",
                                         "onnx_ir", "onnxscript")]
    levels = [lg.level for lg in noisy]
    for lg in noisy:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(noisy, levels):
            lg.setLevel(level)


def _mark(node: torch.fx.Node, inputs: dict | None = None, output: Any = None) -> None:
    """Add input-edge and output quantization specs to ``node``'s pt2e annotation."""
    _, _, q = _torchao()
    ann = node.meta.get("quantization_annotation") or q.QuantizationAnnotation()
    ann.input_qspec_map.update(inputs or {})
    if output is not None:
        ann.output_qspec = output
    ann._annotated = True
    node.meta["quantization_annotation"] = ann


def _int32_bias(x: torch.fx.Node, w: torch.fx.Node, node: torch.fx.Node, per_channel: bool):
    """The bias as INT32 with scale = input scale x weight scale and zero point 0, as PTQ writes it."""
    _, _, q = _torchao()

    def derive(obs: list) -> tuple[torch.Tensor, torch.Tensor]:
        (a_scale, _), (w_scale, _) = obs[0].calculate_qparams(), obs[1].calculate_qparams()
        return (a_scale * w_scale).float(), torch.zeros_like(w_scale, dtype=torch.int32)

    scheme = torch.per_channel_symmetric if per_channel else torch.per_tensor_symmetric
    return q.DerivedQuantizationSpec(derived_from=[(x, node), (w, node)], derive_qparams_fn=derive,
                                     dtype=torch.int32, quant_min=-(2**31) + 1, quant_max=2**31 - 1,
                                     qscheme=scheme, **({"ch_axis": 0} if per_channel else {}))


def _tensor_args(node: torch.fx.Node, k: int = 2) -> list[torch.fx.Node]:
    args = [a for a in node.args[:k] if isinstance(a, torch.fx.Node)]
    return args if len(args) == k else []


def _annotate_tensorrt(gm: torch.fx.GraphModule, s: Specs) -> None:
    """TensorRT's explicit-quantization rules: quantize every input of a weighted layer (weights per
    output channel), leave its output to TensorRT, quantize the residual input of each Add (the one no
    weighted layer produced) so the Add fuses into the Conv that produced the other input."""
    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        if n.target in _WEIGHTED:
            _mark(n, {n.args[0]: s.activation, n.args[1]: s.weight})
        elif n.target in _ADDS and (args := _tensor_args(n)):
            residual = [a for a in args if a.target not in _WEIGHTED] or args[1:]
            _mark(n, {a: s.activation for a in residual})


def _annotate_onnxruntime(gm: torch.fx.GraphModule, s: Specs) -> None:
    """Where onnxruntime's CPU integer kernels (QLinearConv, QGemm, QLinearAdd) need Q/DQ: Conv/Gemm
    inputs, INT32 bias and output, a following ReLU/ReLU6 folded into the output range when activations
    are asymmetric (their range then starts at 0 and onnxruntime drops the Clip), Adds in and out. The
    logits stay float (QGemm writes float)."""
    asymmetric = s.activation.qscheme == torch.per_tensor_affine
    per_channel = s.weight.qscheme in (torch.per_channel_symmetric, torch.per_channel_affine)
    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        if n.target in _WEIGHTED:
            x, w, b = n.args[0], n.args[1], n.args[2] if len(n.args) > 2 else None
            inputs = {x: s.activation, w: s.weight}
            if s.int32_bias and isinstance(b, torch.fx.Node):
                inputs[b] = _int32_bias(x, w, n, per_channel)
            _mark(n, inputs)
            users = list(n.users)
            relu = users[0] if len(users) == 1 and users[0].target in _RELUS else None
            if relu is not None:
                _mark(relu, output=s.activation)
            if (relu is None or not asymmetric) and any(u.op != "output" for u in users):
                _mark(n, output=s.activation)
        elif n.target in _ADDS and (args := _tensor_args(n)):
            _mark(n, {a: s.activation for a in args}, s.activation)


PLACEMENTS.register("tensorrt", Placement(
    "tensorrt", "TensorRT explicit quantization: Conv/Gemm inputs, residual Add inputs", _annotate_tensorrt))
PLACEMENTS.register("onnxruntime", Placement(
    "onnxruntime", "onnxruntime CPU integer kernels: Conv/Gemm in and out, INT32 bias, Adds", _annotate_onnxruntime))


def _quantizer(placement: Placement, specs: Specs):
    _, _, q = _torchao()

    class EdgetlQuantizer(q.Quantizer):
        """Annotates a captured graph with ``specs`` where ``placement`` wants Q/DQ."""

        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            placement.annotate(model, specs)
            return model

        def validate(self, model: torch.fx.GraphModule) -> None:
            pass

    return EdgetlQuantizer()


# --------------------------------------------------------------------------------- prepare and convert

def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _example(size: int, batch: int = 2) -> torch.Tensor:
    return torch.zeros(batch, 3, size, size)


def _capture(model: nn.Module, info: ModelInfo) -> torch.fx.GraphModule:
    """BatchNorm folded into the convolutions (frozen, as the ONNX export folds it), then torch.export."""
    from torch.fx.experimental.optimization import fuse

    try:
        with _quiet():
            folded = fuse(model.eval())
            batch = torch.export.Dim("batch")
            return torch.export.export(folded, (_example(info.preprocess.size),),
                                       dynamic_shapes=({0: batch},)).module()
    except Exception as exc:  # tracing raises many types; the user needs one line
        raise ExportError(f"QAT could not capture {info.backbone} as a graph (torch.fx / torch.export): "
                          f"{_first_line(exc)}") from exc


def _weight_observer(module: nn.Module) -> bool:
    pt2e, _, _ = _torchao()
    obs = getattr(module, "activation_post_process", None)
    return isinstance(obs, (pt2e.MovingAverageMinMaxObserver, pt2e.MovingAveragePerChannelMinMaxObserver))


def calibrate(prepared: torch.fx.GraphModule, calib: ImageSet, batch_size: int = 32) -> None:
    """MinMax activation ranges over the calibration images on the float model (as PTQ's), then held."""
    pt2e, _, _ = _torchao()
    prepared.apply(pt2e.disable_fake_quant)
    prepared.apply(pt2e.enable_observer)
    prepared.eval()
    with torch.no_grad():
        for batch in calib.batches(batch_size):
            prepared(torch.from_numpy(batch))
    prepared.apply(pt2e.enable_fake_quant)
    for m in prepared.modules():
        if isinstance(m, pt2e.FakeQuantize) and not _weight_observer(m):
            m.disable_observer()


def prepare_model(model: nn.Module, info: ModelInfo, preset: TargetPreset, calib: ImageSet) -> torch.fx.GraphModule:
    """``model`` with fake quantizers for ``preset``, calibrated on ``calib``, ready to train."""
    pt2e, qp, _ = _torchao()
    quantizer = _quantizer(placement_for(preset), preset_specs(preset))
    gm = _capture(model, info)
    with _quiet():
        prepared = qp.prepare_qat_pt2e(gm, quantizer)
    pt2e.allow_exported_model_train_eval(prepared)
    calibrate(prepared, calib)
    return prepared


def _to_opset(proto, opset: int):
    """Down-convert the exporter's opset-18 graph, e.g. for TensorRT 8.x parsers that stop at 17."""
    import onnx
    from onnx import version_converter

    for node in proto.graph.node:  # the 18->17 adapter moves Reduce* axes to an attribute but keeps this
        keep = [a for a in node.attribute if not (a.name == "noop_with_empty_axes" and a.i == 0)]
        del node.attribute[:]
        node.attribute.extend(keep)
    try:
        out = version_converter.convert_version(proto, opset)
    except Exception as exc:
        raise ExportError(f"the QAT graph cannot be written at opset {opset} ({_first_line(exc)}): "
                          f"export with --opset {MIN_EXPORT_OPSET} or higher") from exc
    out.ir_version = onnx.helper.find_min_ir_version_for(out.opset_import, ignore_unknown=True)
    return out


def dedicated_pairs(preset: TargetPreset) -> bool:
    """Whether ``preset`` gives every consumer its own Q/DQ pair (PTQ's ``DedicatedQDQPair``, for TensorRT)."""
    return bool((preset.extra_options or {}).get("DedicatedQDQPair", False))


def _dedicate_pairs(graph) -> None:
    """One QuantizeLinear -> DequantizeLinear pair per consumer, cloned from the shared one (the exporter
    merges identical nodes), each placed just before its consumer so the graph stays in order."""
    nodes = [copy.deepcopy(n) for n in graph.node]
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    uses: dict[str, list[tuple[int, int]]] = {}  # tensor -> (node index, input slot) of each use
    for i, n in enumerate(nodes):
        for k, name in enumerate(n.input):
            uses.setdefault(name, []).append((i, k))
    before: dict[int, list] = {}  # node index -> nodes to insert just before it

    def clone(node, tag: str):
        c = copy.deepcopy(node)
        c.name, c.output[0] = f"{c.name}_{tag}", f"{c.output[0]}_{tag}"
        return c

    for d, dq in enumerate(nodes):
        if dq.op_type != "DequantizeLinear":
            continue
        p = producer.get(dq.input[0])
        q = nodes[p] if p is not None and nodes[p].op_type == "QuantizeLinear" else None
        if q is not None and uses[q.output[0]][0][0] != d:  # a Q shared by several DQs: this DQ's own
            q = clone(q, dq.name)
            dq.input[0] = q.output[0]
            before.setdefault(d, []).append(q)
        for j, (user, k) in enumerate(uses.get(dq.output[0], [])[1:], 1):
            pair = [clone(q, f"{dq.name}_{j}")] if q is not None else []
            pair.append(clone(dq, str(j)))
            if q is not None:
                pair[1].input[0] = pair[0].output[0]
            nodes[user].input[k] = pair[-1].output[0]
            before.setdefault(user, []).extend(pair)
    graph.ClearField("node")
    graph.node.extend(m for i, n in enumerate(nodes) for m in (*before.get(i, []), n))


def to_onnx(prepared: torch.fx.GraphModule, info: ModelInfo, opset: int, softmax: bool = False,
            dedicated: bool = False):
    """The trained model as a Q/DQ ``onnx.ModelProto``: INT8 weight constants, QuantizeLinear/DequantizeLinear
    (``dedicated``: one Q/DQ pair per consumer)."""
    import onnx

    _, qp, _ = _torchao()
    if opset > MAX_OPSET:
        raise ExportError(f"--opset {opset} is not supported: use up to {MAX_OPSET}")
    with _quiet():  # convert_pt2e rewrites its argument: the prepared model stays trainable
        converted = qp.convert_pt2e(copy.deepcopy(prepared).to("cpu"))
    net = WithSoftmax(converted) if softmax else converted
    outputs = [OUTPUT_NAME, PROBS_NAME] if softmax else [OUTPUT_NAME]
    try:
        with _quiet(), torch.no_grad():
            program = torch.onnx.export(net, (_example(info.preprocess.size),), dynamo=True, verbose=False,
                                        opset_version=max(MIN_EXPORT_OPSET, opset), optimize=True,
                                        input_names=[INPUT_NAME], output_names=outputs,
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as exc:
        raise ExportError(f"torch.onnx.export failed for the QAT model: {_first_line(exc)}") from exc
    proto = program.model_proto
    if dedicated:
        _dedicate_pairs(proto.graph)
    if opset < MIN_EXPORT_OPSET:
        proto = _to_opset(proto, opset)
    proto.producer_name, proto.producer_version = "edgetl", info.edgetl_version
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"the QAT graph fails onnx.checker: {_first_line(exc)}") from exc
    return proto


# ------------------------------------------------------------------------------------------ training

def train_qat(model: nn.Module, info: ModelInfo, preset: TargetPreset, recipe: FinetuneConfig, data: SplitData,
              calib: ImageSet, out: Path, opset: int, softmax: bool = False,
              callbacks: Callbacks | None = None) -> QatTraining:
    """Prepare ``model`` for ``preset``, train it per ``recipe`` and write its Q/DQ ONNX to ``out``
    (without edgetl's metadata, which the caller adds once the model has passed its gates)."""
    prepared = prepare_model(model, info, preset, calib)
    log.info("QAT: %d epoch(s) at learning rate %g, %s placement", recipe.epochs, recipe.lr,
             placement_for(preset).name)
    training = train_prepared(prepared, recipe, data, info.preprocess, callbacks)
    proto = to_onnx(prepared, info, opset, softmax, dedicated=dedicated_pairs(preset))
    Path(out).write_bytes(proto.SerializeToString())
    return training


def qat_recipe_for(config: dict, info: ModelInfo, data: SplitData, cfg: QatConfig) -> FinetuneConfig:
    """The run's fine-tuning recipe for ``cfg``'s epochs and learning rate."""
    return qat_recipe(config, info, str(data.root), cfg.epochs, cfg.lr)


# ------------------------------------------------------------------------------------------ decisions

SPEED_TIE = 0.03  # speed-ups closer than this (relative) count as equal: a timing's noise on a CPU


@dataclass(frozen=True)
class Candidate:
    """One INT8 model as the gates measured it."""

    name: str  # "ptq" or "qat"
    top1: float
    drop_points: float
    agreement: float
    float_nodes: int
    within_budget: bool  # drop within --max-drop
    speedup: float | None = None  # vs FP32, where the target is timed here

    def to_dict(self) -> dict[str, Any]:
        return {"top1": self.top1, "drop_points": self.drop_points, "agreement": self.agreement,
                "float_nodes": self.float_nodes, "within_budget": self.within_budget,
                "speedup": None if self.speedup is None else round(self.speedup, 3)}


def speed_cost(all_int8: float, with_fallbacks: float) -> float:
    """The share of the all-INT8 speed-up over FP32 that float fallbacks give away (0 when none is had)."""
    gain = all_int8 - 1.0
    return 0.0 if gain <= 0 else max(0.0, min(1.0, (all_int8 - with_fallbacks) / gain))


def why_qat(cfg: QatConfig, preset: TargetPreset, ptq: Candidate | None, cost: float | None) -> str | None:
    """Why QAT runs after PTQ, or None when it does not (``--qat auto`` with a PTQ model that needs none)."""
    if cfg.mode == "off":
        return None
    if cfg.mode == "on":
        return "asked for (--qat on)"
    if ptq is None or not ptq.within_budget:
        return "PTQ misses the accuracy budget even with tensors kept in float"
    if ptq.float_nodes == 0:
        return None
    if cost is None:
        return (f"PTQ keeps {ptq.float_nodes} tensor(s) in float, which {preset.name} runs unquantized "
                f"(not timed on this machine)")
    if cost > cfg.max_speed_cost:
        return (f"PTQ's {ptq.float_nodes} float tensor(s) give away {cost:.0%} of the all-INT8 speed-up "
                f"(more than --qat-max-cost {cfg.max_speed_cost:.0%})")
    return None


def choose(ptq: Candidate | None, qat: Candidate) -> tuple[str, str]:
    """The better model by the gates' numbers, and why: within the budget first, then faster (where
    timed here), then fewer float tensors, then the smaller drop; a tie keeps PTQ (no retraining)."""
    if ptq is None or not ptq.within_budget:
        return ("qat", "only QAT stays within the accuracy budget") if qat.within_budget else ("none", "neither does")
    if not qat.within_budget:
        return "ptq", f"QAT misses the accuracy budget (drop {qat.drop_points:.2f} points)"
    if ptq.speedup is not None and qat.speedup is not None:
        ratio = qat.speedup / ptq.speedup
        if abs(ratio - 1) > SPEED_TIE:
            winner = "qat" if ratio > 1 else "ptq"
            return winner, (f"{winner.upper()} is faster ({qat.speedup:.2f}x vs {ptq.speedup:.2f}x FP32) and both "
                            f"stay within the budget")
    if qat.float_nodes != ptq.float_nodes:
        winner = "qat" if qat.float_nodes < ptq.float_nodes else "ptq"
        return winner, (f"{winner.upper()} keeps fewer tensors in float ({qat.float_nodes} vs {ptq.float_nodes}) "
                        f"and both stay within the budget")
    if qat.drop_points < ptq.drop_points:
        return "qat", f"QAT loses less top-1 ({qat.drop_points:.2f} vs {ptq.drop_points:.2f} points)"
    return "ptq", (f"QAT is no better (drop {qat.drop_points:.2f} vs {ptq.drop_points:.2f} points): "
                   f"PTQ needs no training")
