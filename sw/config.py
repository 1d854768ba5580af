"""Typed run configuration: dataclasses, a YAML override file, and ``--set key=value``.

Every key is known in advance; an unknown key or a value of the wrong type is a
``ConfigError`` naming it, never a silently ignored typo.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Each choice list is its implementing module's own table (all of them torch-free).
from adderflow.distill.table import METHODS as DISTILL_METHODS
from adderflow.distill.table import NGD_INITS, PKKD_KERNELS
from adderflow.errors import ConfigError, require_file
from adderflow.fixed import check_bits
from adderflow.hw.hls4ml_backend import IO_TYPES as HLS_IO_TYPES
from adderflow.hw.simulate import SIMULATORS as RTL_SIMULATORS
from adderflow.hw.synth import TARGETS as SYNTH_TARGET_TABLE
from adderflow.quant import MODES as QUANT_MODES


@dataclass
class DataConfig:
    name: str = "digits"
    root: str | None = None
    test_fraction: float = 0.2
    seed: int = 0
    batch_size: int = 64
    # Training-batch augmentation: none | flip (horizontal) | crop_flip (zero-pad 4, random
    # crop back to size, flip: the CIFAR ResNet papers' augmentation).
    augment: str = "none"


@dataclass
class ModelConfig:
    # auto: the small network for the data's shape (digits_net for images, mnist1d_net for
    # 1-D signals), `width` hidden channels; or a zoo name (adderflow.models.ZOO: resnet20,
    # resnet32, resnet18, resnet50, ghostnet, ...) scaled by `width_mult`; or your own
    # network, module:MODULE:FACTORY (MODULE a dotted name importable from the working
    # directory or PYTHONPATH, or a path to a .py file; docs/your-model.md).
    arch: str = "auto"
    width: int = 16
    # The auto image network's head: gap (conv blocks → global average pool →
    # multiplication classifier, the AdderNet papers' form) | dense (an adder hidden dense
    # layer on the flattened frame, the default before the recipe ablation in
    # docs/results.md) | auto (gap; dense for binary students, whose export has no global
    # pooling yet).
    head: str = "auto"
    width_mult: float = 1.0


@dataclass
class TrainConfig:
    epochs: int = 30
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    # AdderNet's adaptive learning-rate coefficient (0.2 in the reference CIFAR recipe).
    eta: float = 0.2
    grad_clip: float = 5.0
    # Also clip adder weights' gradients (after the adaptive LR has set their norms). Off:
    # clipping them shrank every step of the network and stalled small-data students
    # (docs/results.md); on reproduces the behaviour before that finding.
    grad_clip_adders: bool = False
    # Networks with adder layers: after each epoch, batch-norm statistics are recomputed on
    # this many training samples with the weights frozen (0: keep the running averages,
    # which trail adder weights by ~10 steps; docs/results.md).
    bn_recompute: int = 2048
    # Learning-rate schedule, stepped per epoch: cosine (to 0 at the last epoch) | step
    # (multiplied by `gamma` at each epoch in `milestones`; empty: at 50% and 75%).
    schedule: str = "cosine"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    nesterov: bool = False
    # auto (CUDA when available, else CPU) | cpu | cuda
    device: str = "auto"
    # Mixed precision on CUDA (bf16 autocast, or fp16 with loss scaling); ignored on CPU.
    amp: bool = True
    # TensorBoard event files beside the CSV: <checkpoints>/tensorboard/<role>/.
    tensorboard: bool = True


@dataclass
class DistillConfig:
    # none | kd | pkkd | ngd | dgrl (adderflow.distill.methods; docs/distillation.md)
    method: str = "kd"
    # The student's kind: auto (the method's: adder, binary for dgrl) | adder | binary | cnn;
    # none and kd take any (plain and Hinton-KD baselines; cnn: the multiplication network
    # itself, quantized and exported as the baseline the adder and binary ones are held to).
    student: str = "auto"
    temperature: float = 4.0
    alpha: float = 0.7
    # PKKD: kernel pair (mixed: Laplacian student / Gaussian teacher; gaussian; linear),
    # weight of the Gram losses, 1 = co-trained teacher (the paper) or 2 = pre-trained,
    # fraction of training over which the distillation weights ramp up from 0.
    pkkd_kernel: str = "mixed"
    pkkd_weight: float = 1.0
    pkkd_stages: int = 1
    pkkd_warmup: float = 0.3
    # NGD: teacher's intra-class centralization and inter-class decentralization weights,
    # the centres' margin, the student's normalised-feature weight, the starting p.
    ngd_centre: float = 0.1
    ngd_separate: float = 0.1
    ngd_margin: float = 1.0
    ngd_guide: float = 1.0
    ngd_p_start: float = 2.0
    # Fraction of training over which p falls from ngd_p_start to 1 (ours: 0.5 leaves the
    # second half to the pure ℓ1 network; over the whole run, 1, cost 6-12 points on
    # MNIST-1D: docs/results.md).
    ngd_p_span: float = 0.5
    # Where the ℓ1 student starts: scratch (random init) | teacher (the trained ℓ2 teacher's
    # weights: same architecture, and at p = 2 the student starts as the teacher).
    ngd_init: str = "scratch"
    # DGRL: weight of the block-wise feature loss; Squeeze-and-Interaction units on/off.
    dgrl_blocks: float = 1.0
    dgrl_si: bool = True


@dataclass
class QuantConfig:
    bits: int = 8
    # ptq: post-training quantization of the student; qat: brevitas quantization-aware
    # fine-tune of it (docs/quantization.md), `qat_epochs` at `qat_lr`, distilled from the
    # teacher (or the float student when the method trains no teacher).
    mode: str = "ptq"
    # Weight width of the multiplication layers (0: `bits`). Adder layers' weights share
    # their input's scale and width (numeric contract 2).
    weight_bits: int = 0
    qat_epochs: int = 30
    qat_lr: float = 0.03
    # Fraction of the QAT epochs after which batch-norm statistics and quantizer scales
    # freeze (quant/qat.py `freeze`: without it evaluation accuracy collapses late).
    qat_freeze: float = 0.5
    # Lower the IR one op family per graph pass, checking the codes on 8 test images after
    # each and naming the pass that changed one (export/passes.py).
    debug_passes: bool = False
    multiplier_bits: int = 16
    # Power-of-two requantization multipliers: no multiplier left in the datapath.
    shift_only: bool = False
    # Adder layers' shared scale: "joint" covers |x| and |w|; "activation" covers |x| only,
    # clamps weights and compensates in the bias (far better below 8 bits).
    adder_scale: str = "activation"
    calibration_samples: int = 512


@dataclass
class VerifyConfig:
    # Test images the quantized PyTorch model is compared on; 0 means the full test split.
    samples: int = 0
    # Of those, how many also go through qonnx execution and onnxruntime (each far slower
    # per image); 0: all. `adderflow verify RUN --full` checks all of them.
    backend_samples: int = 1000


@dataclass
class RtlConfig:
    # `adderflow run` generates the RTL and simulates it on `samples` test images (0: all;
    # the default: the compiled Verilator harness takes the whole digits split in seconds).
    enabled: bool = True
    samples: int = 0
    # Comma-separated: verilator (compiled, fast) and/or icarus (event-driven, slow).
    simulators: str = "verilator"
    # Cycles per image the slowest layer may take; 0: match the first layer's best rate.
    target_cycles: int = 0


@dataclass
class SynthConfig:
    # `adderflow run` synthesizes the network into a bitstream after the RTL stage
    # (yosys + nextpnr + ecppack, the yowasp-* packages of the `hw` extra).
    enabled: bool = True
    # Device and board: ecp5-25k / ecp5-85k (ULX3S), ice40-up5k (iCEBreaker).
    target: str = "ecp5-25k"
    # nextpnr's timing target; 0: the board's oscillator, the clock the bitstream runs at.
    clock_mhz: float = 0.0
    # Folding of the synthesized design, as rtl.target_cycles; 0: the RTL stage's design.
    # The default network's fastest folding (about 400 lanes) overflows the ECP5-25k and
    # takes many minutes to place on an 85k, so the bitstream gets a 15-lane folding: fast to
    # place (docs/benchmarks.md) and still faster than the shim's UART can send images.
    target_cycles: int = 40000


@dataclass
class HlsConfig:
    # `adderflow run` converts the model to an hls4ml project after the RTL stage, builds its
    # C-simulation with g++ and checks `samples` test images (0: all) against the reference.
    enabled: bool = True
    samples: int = 64
    # Comma-separated: io_parallel and/or io_stream.
    io_types: str = "io_parallel,io_stream"
    reuse_factor: int = 1
    # Only written into the generated Vitis project; nothing here synthesizes it.
    part: str = "xcvu13p-flga2577-2-e"
    clock_period_ns: float = 5.0


@dataclass
class Config:
    seed: int = 0
    # torch's training threads; 0: OMP_NUM_THREADS if set, else half the cores (adderflow/
    # threads.py: more threads than free cores make epochs collapse under load).
    threads: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    teacher: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20))
    student: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    rtl: RtlConfig = field(default_factory=RtlConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    hls: HlsConfig = field(default_factory=HlsConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


QUICK_OVERRIDES = {
    "teacher.epochs": 2,
    "student.epochs": 2,
    "quant.calibration_samples": 128,
    "quant.qat_epochs": 2,
    "rtl.samples": 16,
    # Place and route takes minutes; a smoke run stops at the simulated RTL.
    "synth.enabled": False,
    # One hls4ml C-simulation build (~15 s) instead of two.
    "hls.samples": 16,
    "hls.io_types": "io_parallel",
}


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert a YAML or command-line value to the field's declared type."""
    args = typing.get_args(annotation)
    if type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        annotation = next(a for a in args if a is not type(None))
    if typing.get_origin(annotation) is list:
        return _coerce_list(value, typing.get_args(annotation)[0], key)
    if isinstance(value, str) and annotation is not str:
        value = _parse_value(value, key)
    if annotation is float and isinstance(value, str):
        value = _float_or_same(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float, str, bool) and type(value) is not annotation:
        raise ConfigError(f"config key '{key}' needs a {annotation.__name__}, got {value!r}")
    return value


def _parse_value(text: str, key: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
        raise ConfigError(f"config key '{key}': {text!r} is not a value ({problem})") from None


def _float_or_same(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where (PyYAML's own message takes five to eight)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def _coerce_list(value: Any, item: Any, key: str) -> list:
    """A YAML list, or on the command line ``[100, 150]``, ``100,150``, ``100`` or ``[]``."""
    if isinstance(value, str):
        text = value.strip()
        value = _parse_value(text, key) if text.startswith("[") else text.split(",") if text else []
    if not isinstance(value, list):
        value = [value]
    return [_coerce(v.strip() if isinstance(v, str) else v, item, key) for v in value]


def set_key(cfg: Config, key: str, value: Any) -> None:
    """Set a dotted ``key`` (``student.epochs``) on ``cfg``, type-checked."""
    obj: Any = cfg
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(obj) or part not in _field_types(type(obj)):
            valid = ", ".join(_valid_keys(Config()))
            raise ConfigError(f"unknown config key '{key}' (valid keys: {valid})")
        annotation = _field_types(type(obj))[part]
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(getattr(obj, part)):
                raise ConfigError(f"config key '{key}' is a section; set one of its keys")
            setattr(obj, part, _coerce(value, annotation, key))
        else:
            obj = getattr(obj, part)


def _valid_keys(obj: Any, prefix: str = "") -> list[str]:
    keys = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            keys += _valid_keys(value, f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + str(key)] = value
    return flat


def parse_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    quick: bool = False,
) -> Config:
    """Defaults, then ``--quick``, then the YAML file, then ``--set`` pairs, in that order."""
    tree = read_yaml(path) if path is not None else {}
    return config_from_tree(tree, str(path), overrides, quick)


def config_from_tree(
    tree: dict[str, Any],
    source: str = "config",
    overrides: list[str] | None = None,
    quick: bool = False,
) -> Config:
    """Defaults, then ``--quick``, then ``tree`` (a YAML file's keys), then ``--set`` pairs."""
    cfg = Config()
    if quick:
        for key, value in QUICK_OVERRIDES.items():
            set_key(cfg, key, value)
    for key, value in _flatten(tree).items():
        set_key(cfg, key, value)
    for text in overrides or []:
        set_key(cfg, *parse_assignment(text))
    validate(cfg)
    return cfg


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (YAML keeps the last)."""


def _no_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"key '{key}' appears twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = require_file(path, "config file", ConfigError)
    try:
        tree = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a text (YAML) file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from None
    except ConfigError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys")
    return tree


SCHEDULES = ("cosine", "step")
TRAIN_DEVICES = ("auto", "cpu", "cuda")
# adderflow.models.ZOO's names (not imported: the config stays free of torch; a test keeps
# the two equal).
MODEL_ARCHS = (
    "digits",
    "fpga",
    "mnist1d",
    "resnet8",
    "resnet20",
    "resnet32",
    "resnet56",
    "resnet18",
    "resnet50",
    "ghostnet",
    "binary_resnet18",
)


def validate_train(t: TrainConfig, section: str = "student") -> None:
    if t.schedule not in SCHEDULES:
        raise ConfigError(f"{section}.schedule '{t.schedule}' is not one of {', '.join(SCHEDULES)}")
    if t.device not in TRAIN_DEVICES:
        raise ConfigError(f"{section}.device '{t.device}' is not one of {', '.join(TRAIN_DEVICES)}")
    if any(m < 1 for m in t.milestones) or t.milestones != sorted(t.milestones):
        raise ConfigError(
            f"{section}.milestones must be increasing positive epochs, got {t.milestones}"
        )
    if t.gamma <= 0:
        raise ConfigError(f"{section}.gamma must be positive, got {t.gamma}")
    for key in ("lr", "grad_clip", "bn_recompute"):
        if getattr(t, key) < 0:
            raise ConfigError(f"{section}.{key} must not be negative, got {getattr(t, key)}")


AUGMENTS = ("none", "flip", "crop_flip")
DIGITS_HEADS = ("auto", "gap", "dense")  # auto, or adderflow.models.digits_net's heads


USER_ARCH_PREFIX = "module:"
USER_ARCH_FORM = "module:MODULE:FACTORY"


def user_arch(arch: str) -> tuple[str, str] | None:
    """``(module, factory)`` of a ``module:MODULE:FACTORY`` arch, None for any other arch.

    MODULE is a dotted module name or a path to a ``.py`` file (which may hold colons, so
    the factory is what follows the last one).
    """
    if not arch.startswith(USER_ARCH_PREFIX):
        return None
    module, sep, factory = arch[len(USER_ARCH_PREFIX) :].rpartition(":")
    is_file = module.endswith(".py")
    dotted = all(part.isidentifier() for part in module.split("."))
    if not sep or not factory.isidentifier() or not (is_file or dotted):
        raise ConfigError(
            f"model.arch '{arch}' is not of the form {USER_ARCH_FORM} (MODULE: a dotted "
            "module name or a .py file, FACTORY: a function or class name in it), e.g. "
            "module:my_cnn:make_model"
        )
    return module, factory


def validate_model(m: ModelConfig) -> None:
    if m.arch != "auto" and m.arch not in MODEL_ARCHS and user_arch(m.arch) is None:
        raise ConfigError(
            f"model.arch '{m.arch}' is not auto or one of {', '.join(MODEL_ARCHS)}; your own "
            f"network: {USER_ARCH_FORM} (docs/your-model.md)"
        )
    if m.head not in DIGITS_HEADS:
        raise ConfigError(f"model.head '{m.head}' is not one of {', '.join(DIGITS_HEADS)}")
    if m.width_mult <= 0:
        raise ConfigError(f"model.width_mult must be positive, got {m.width_mult}")


SYNTH_TARGETS = tuple(SYNTH_TARGET_TABLE)


def rtl_simulators(cfg: Config) -> list[str]:
    names = [s.strip() for s in cfg.rtl.simulators.split(",") if s.strip()]
    bad = [n for n in names if n not in RTL_SIMULATORS]
    if bad or not names:
        raise ConfigError(
            f"rtl.simulators '{cfg.rtl.simulators}' must list some of {', '.join(RTL_SIMULATORS)}"
        )
    return names


def _validate_ranges(cfg: Config) -> None:
    """Numbers outside the range that means something (seeds feed NumPy, which refuses
    negatives; a negative sample count would silently drop the last images)."""
    checks = [
        ("seed", cfg.seed, 0), ("data.seed", cfg.data.seed, 0),
        ("verify.samples", cfg.verify.samples, 0),
        ("verify.backend_samples", cfg.verify.backend_samples, 0),
        ("quant.calibration_samples", cfg.quant.calibration_samples, 1),
    ]  # fmt: skip
    for section in ("teacher", "student"):
        t = getattr(cfg, section)
        checks += [(f"{section}.momentum", t.momentum, 0), (f"{section}.eta", t.eta, 0),
                   (f"{section}.weight_decay", t.weight_decay, 0)]  # fmt: skip
    for key, value, low in checks:
        if value < low:
            bound = "negative" if low == 0 else f"below {low}"
            raise ConfigError(f"{key} must not be {bound}, got {value}")
    if not 0.0 < cfg.data.test_fraction < 1.0:
        raise ConfigError(f"data.test_fraction must lie in (0, 1), got {cfg.data.test_fraction}")


def validate(cfg: Config) -> None:
    _validate_ranges(cfg)
    rtl_simulators(cfg)
    if cfg.threads < 0:
        raise ConfigError(f"threads must be 0 (auto) or a positive count, got {cfg.threads}")
    for key in ("samples", "target_cycles"):
        if getattr(cfg.rtl, key) < 0:
            raise ConfigError(f"rtl.{key} must not be negative, got {getattr(cfg.rtl, key)}")
    validate_synth(cfg.synth)
    validate_hls(cfg)
    check_bits(cfg.quant.bits, "quant.bits")
    check_bits(cfg.quant.multiplier_bits, "quant.multiplier_bits")
    if cfg.quant.weight_bits:
        check_bits(cfg.quant.weight_bits, "quant.weight_bits")
    if cfg.quant.qat_epochs < 1 or cfg.quant.qat_lr <= 0:
        raise ConfigError("quant.qat_epochs must be at least 1 and quant.qat_lr positive")
    if not 0.0 <= cfg.quant.qat_freeze <= 1.0:
        raise ConfigError(f"quant.qat_freeze must lie in [0, 1], got {cfg.quant.qat_freeze}")
    if cfg.distill.method not in DISTILL_METHODS:
        raise ConfigError(
            f"distill.method '{cfg.distill.method}' is not one of {', '.join(DISTILL_METHODS)}"
        )
    if cfg.quant.adder_scale not in ("joint", "activation"):
        raise ConfigError(
            f"quant.adder_scale '{cfg.quant.adder_scale}' is not one of joint, activation"
        )
    if cfg.quant.mode not in QUANT_MODES:
        raise ConfigError(f"quant.mode '{cfg.quant.mode}' is not one of {', '.join(QUANT_MODES)}")
    for section in ("teacher", "student"):
        if getattr(cfg, section).epochs < 1:
            raise ConfigError(f"{section}.epochs must be at least 1")
        validate_train(getattr(cfg, section), section)
    if cfg.model.width < 1 or cfg.data.batch_size < 1:
        raise ConfigError("model.width and data.batch_size must be positive")
    validate_model(cfg.model)
    if cfg.data.augment not in AUGMENTS:
        raise ConfigError(f"data.augment '{cfg.data.augment}' is not one of {', '.join(AUGMENTS)}")
    if not 0.0 <= cfg.distill.alpha <= 1.0:
        raise ConfigError("distill.alpha must lie in [0, 1]")
    _validate_distill(cfg.distill)


def validate_synth(synth: SynthConfig) -> None:
    if synth.target not in SYNTH_TARGETS:
        raise ConfigError(f"synth.target '{synth.target}' is not one of {', '.join(SYNTH_TARGETS)}")
    if synth.clock_mhz < 0 or synth.target_cycles < 0:
        raise ConfigError("synth.clock_mhz and synth.target_cycles must not be negative")


def hls_io_types(cfg: Config) -> list[str]:
    names = [s.strip() for s in cfg.hls.io_types.split(",") if s.strip()]
    if not names or any(n not in HLS_IO_TYPES for n in names):
        raise ConfigError(
            f"hls.io_types '{cfg.hls.io_types}' must list some of {', '.join(HLS_IO_TYPES)}"
        )
    return names


def validate_hls(cfg: Config) -> None:
    hls_io_types(cfg)
    if cfg.hls.samples < 0:
        raise ConfigError(f"hls.samples must not be negative, got {cfg.hls.samples}")
    if cfg.hls.reuse_factor < 1 or cfg.hls.clock_period_ns <= 0:
        raise ConfigError("hls.reuse_factor must be at least 1 and hls.clock_period_ns positive")


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


STUDENT_KINDS = ("auto", "adder", "binary", "cnn")


def _validate_distill(d: DistillConfig) -> None:
    fixed = {"pkkd": "adder", "ngd": "adder", "dgrl": "binary"}
    if d.student not in STUDENT_KINDS:
        raise ConfigError(f"distill.student '{d.student}' is not one of {', '.join(STUDENT_KINDS)}")
    if d.student != "auto" and fixed.get(d.method, d.student) != d.student:
        raise ConfigError(
            f"distill.method={d.method} distils into {fixed[d.method]} students, not {d.student}"
        )
    if d.pkkd_kernel not in PKKD_KERNELS:
        raise ConfigError(
            f"distill.pkkd_kernel '{d.pkkd_kernel}' is not one of {', '.join(PKKD_KERNELS)}"
        )
    if d.pkkd_stages not in (1, 2):
        raise ConfigError(f"distill.pkkd_stages must be 1 or 2, got {d.pkkd_stages}")
    if not 0.0 < d.ngd_p_span <= 1.0:
        raise ConfigError(f"distill.ngd_p_span must lie in (0, 1], got {d.ngd_p_span}")
    if not 1.0 <= d.ngd_p_start <= 2.0:
        raise ConfigError(f"distill.ngd_p_start must lie in [1, 2], got {d.ngd_p_start}")
    if d.ngd_init not in NGD_INITS:
        raise ConfigError(f"distill.ngd_init '{d.ngd_init}' is not one of {', '.join(NGD_INITS)}")
    for key in (
        "pkkd_weight",
        "pkkd_warmup",
        "ngd_centre",
        "ngd_separate",
        "ngd_margin",
        "ngd_guide",
        "dgrl_blocks",
    ):
        if getattr(d, key) < 0:
            raise ConfigError(f"distill.{key} must not be negative, got {getattr(d, key)}")
