"""A small, resumable trainer: SGD with a cosine or step schedule, AdderNet's adaptive LR.

Each epoch ends with an atomic checkpoint holding everything needed to continue. Batches
are shuffled by a generator seeded with ``seed + epoch``, so a resumed run sees the same
batches as an uninterrupted one.

- **Data parallel**: under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) ``fit`` joins the
  process group, wraps the model in ``DistributedDataParallel`` and trains each process
  on its slice of every global batch (``adderflow.distributed``); rank 0 writes files.
- **Logs**: a CSV beside the checkpoint and, with ``train.tensorboard``, TensorBoard event
  files under ``<checkpoint dir>/tensorboard/<name>/`` (loss, accuracies, learning rate
  per epoch).
- **Devices**: ``train.device`` (CUDA when available); with ``train.amp`` CUDA training
  runs under autocast (bf16 where the GPU has it, else fp16 with a gradient scaler).
  Adder layers always compute in float32: their outputs are sums of many distances, which
  fp16 overflows and bf16 rounds too coarsely. The model returns to the CPU afterwards.
- **Non-finite values** stop training with an error naming the first culprit: the input,
  a parameter, the first layer (in execution order) whose output is not finite, the loss
  function, or the first parameter whose gradient is not.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from adderflow import distributed as dist
from adderflow.bn_stats import recompute_batch_norm
from adderflow.checkpoint import atomic_write_text, load_checkpoint, load_state, save_checkpoint
from adderflow.config import TrainConfig
from adderflow.data import make_loader
from adderflow.errors import AdderflowError
from adderflow.nn import adder_weights, scale_adder_gradients
from adderflow.run_paths import curves_of, tensorboard_of

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (logits, x, y) -> loss


@dataclass
class History:
    rows: list[dict[str, float]] = field(default_factory=list)

    def to_csv(self) -> str:
        if not self.rows:
            return ""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(self.rows[0]))
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _device_of(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    model.eval()
    device = _device_of(model)
    outs = [
        model(torch.from_numpy(x[i : i + batch_size]).to(device)).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(outs).argmax(1).numpy()


def trained_networks(model: nn.Module) -> list[nn.Module]:
    """The networks a training wrapper trains, each runnable on its own (a distillation
    wrapper lists its student, and its teacher when co-trained); a plain model is itself."""
    listed = getattr(model, "trained_networks", None)
    return list(listed()) if callable(listed) else [model]


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(model, x) == y).mean())


# --------------------------------------------------------------- optimizer and schedule


def default_milestones(epochs: int) -> list[int]:
    """The step schedule's milestones when none are given: 50% and 75% of the epochs."""
    return sorted({max(1, round(epochs * 0.5)), max(1, round(epochs * 0.75))})


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, epochs: int):
    """``cfg.schedule`` stepped once per epoch: cosine to 0, or × gamma at each milestone."""
    if cfg.schedule == "step":
        milestones = list(cfg.milestones) or default_milestones(epochs)
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    raise AdderflowError(f"unknown schedule '{cfg.schedule}' (cosine or step)")


def _make_optimizer(model: nn.Module, cfg: TrainConfig, epochs: int):
    opt = torch.optim.SGD(
        model.parameters(),
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=cfg.nesterov,
    )
    return opt, make_scheduler(opt, cfg, epochs)


# ------------------------------------------------------------- device and mixed precision


def resolve_device(cfg: TrainConfig, section: str = "student") -> torch.device:
    """``<section>.device``; under torchrun on CUDA, this process's GPU (``LOCAL_RANK``)."""
    want = cfg.device
    if want == "cuda" and not torch.cuda.is_available():
        raise AdderflowError(f"{section}.device is cuda but no CUDA device is available")
    if want == "cpu" or (want == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", dist.local_rank() if dist.env_world_size() > 1 else 0)


@dataclass
class Precision:
    """Autocast settings: ``dtype`` None is full precision; ``scaler`` only for fp16."""

    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    scaler: Any = None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def precision_for(cfg: TrainConfig, device: torch.device) -> Precision:
    """Mixed precision on CUDA only (``train.amp``): bf16 where supported, else fp16."""
    if not cfg.amp or device.type != "cuda":
        return Precision(device.type)
    if torch.cuda.is_bf16_supported():
        return Precision("cuda", torch.bfloat16)
    return Precision("cuda", torch.float16, torch.amp.GradScaler("cuda"))


def full_precision_adders(model: nn.Module, device_type: str) -> list:
    """Run every adder layer in float32 with autocast off; returns the hook handles.

    Under autocast a preceding convolution hands an adder layer fp16/bf16 activations;
    ``-Σ|x - w|`` over thousands of terms overflows fp16 and loses its low bits in bf16,
    and the ℓ2 form (a matrix product) would cancel catastrophically. Remove the handles
    when training ends.
    """
    handles = []
    for module in model.modules():
        if not getattr(module, "is_adder", False):
            continue
        stack: list[torch.autocast] = []

        def pre(_module, args, stack=stack):
            ctx = torch.autocast(device_type, enabled=False)
            ctx.__enter__()
            stack.append(ctx)
            return tuple(
                a.float() if isinstance(a, Tensor) and a.is_floating_point() else a for a in args
            )

        def post(_module, _args, _output, stack=stack):
            stack.pop().__exit__(None, None, None)

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post, always_call=True))
    return handles


# -------------------------------------------------------------------- non-finite values


def _nonfinite(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.is_floating_point() and not bool(torch.isfinite(value).all())
    if isinstance(value, (tuple, list)):
        return any(_nonfinite(v) for v in value)
    if isinstance(value, dict):
        return any(_nonfinite(v) for v in value.values())
    return False


def _layer(model: nn.Module, name: str) -> str:
    module = model.get_submodule(name) if name else model
    return f"layer '{name or '(the model)'}' ({type(module).__name__})"


def _param_owner(param_name: str) -> str:
    return param_name.rsplit(".", 1)[0] if "." in param_name else ""


def find_nonfinite(
    model: nn.Module, x: Tensor, precision: Precision | None = None, gradients: bool = True
) -> str | None:
    """The first non-finite value behind a failed step, in words; None if none is found.

    In order: the input batch; the parameters (module order); the outputs of a fresh
    forward pass (the first layer to finish with a non-finite output, so the innermost,
    earliest one); with ``gradients``, the parameters' gradients.
    """
    if _nonfinite(x):
        return "the input batch"
    for pname, p in model.named_parameters():
        if _nonfinite(p.detach()):
            return f"parameter '{pname}' of {_layer(model, _param_owner(pname))}"
    found: list[str] = []

    def hook(name: str):
        def check(_module, _inputs, output) -> None:
            if not found and _nonfinite(output):
                found.append(name)

        return check

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()]
    try:
        with torch.no_grad(), (precision or Precision()).autocast():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if found:
        return f"output of {_layer(model, found[0])}"
    if gradients:
        for pname, p in model.named_parameters():
            if p.grad is not None and _nonfinite(p.grad):
                return f"gradient of parameter '{pname}' of {_layer(model, _param_owner(pname))}"
    return None


def _clipped_params(
    params: list[nn.Parameter], adders: list[nn.Parameter], clip_adders: bool
) -> list[nn.Parameter]:
    """The parameters ``grad_clip`` bounds. Adder weights are left out by default: the
    adaptive LR has just set each adder gradient's norm to ``eta·sqrt(k)`` (13.6 for a
    16→32 3×3 layer), so a clip of 5 over all parameters would shrink every gradient of the
    network, multiplication layers and batch norms included, by 3–8× on every step; on small
    data sets that stalled students at chance for tens of epochs (docs/results.md)."""
    if clip_adders:
        return params
    adder_ids = {id(p) for p in adders}
    return [p for p in params if id(p) not in adder_ids]


def _nonfinite_error(
    net: nn.Module, x: Tensor, precision: Precision, what: str, where: str
) -> AdderflowError:
    culprit = find_nonfinite(net, x, precision)
    rank, size = dist.world()
    if culprit is None and size > 1:
        culprit = "none in this process's slice of the batch (see the other processes)"
    elif culprit is None:
        culprit = "the loss function (every layer's output and gradient is finite)"
    proc = f" (process {rank} of {size})" if size > 1 else ""
    return AdderflowError(
        f"{what} at {where}{proc}; first non-finite: {culprit}; lower the learning rate or eta"
    )


# ---------------------------------------------------------------------------- augmentation

AUGMENT_PAD = 4


def augment_batch(x: Tensor, mode: str, generator: torch.Generator) -> Tensor:
    """``data.augment`` on a training batch (NCHW, or NCL for 1-D signals).

    ``flip`` mirrors each sample along its last axis with probability 1/2; ``crop_flip``
    also zero-pads 4 on every spatial side and crops a random window of the original size
    (He et al.'s CIFAR augmentation). The draws come from ``generator`` alone, so a resumed
    or data-parallel run augments exactly as an uninterrupted single process does.
    """
    if mode == "none":
        return x
    if mode not in ("flip", "crop_flip"):
        raise AdderflowError(f"unknown augmentation '{mode}' (none, flip, crop_flip)")
    n, spatial = len(x), x.dim() - 2
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.view(n, *[1] * (x.dim() - 1)), x.flip(-1), x)
    if mode == "flip":
        return x
    pad = AUGMENT_PAD
    padded = nn.functional.pad(x, (pad, pad) * spatial)
    offsets = torch.randint(0, 2 * pad + 1, (n, spatial), generator=generator).tolist()
    size = x.shape[2:]
    return torch.stack(
        [
            padded[(i, slice(None), *(slice(o, o + s) for o, s in zip(off, size, strict=True)))]
            for i, off in enumerate(offsets)
        ]
    )


# ---------------------------------------------------------------------------- one epoch


def _step(opt, scaler, adders, clipped: list, cfg: TrainConfig) -> None:
    """The optimizer step on finite gradients: adder rates scaled, the rest clipped."""
    scale_adder_gradients(adders, cfg.eta)
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(clipped, cfg.grad_clip)
    if scaler is not None:
        scaler.step(opt)  # skipped (and the scale lowered) on fp16 overflow
        scaler.update()
    else:
        opt.step()


def _train_epoch(
    model: nn.Module,
    loader,
    opt,
    loss_fn: LossFn,
    cfg: TrainConfig,
    name: str,
    epoch: int,
    *,
    net: nn.Module | None = None,
    device: torch.device | None = None,
    precision: Precision | None = None,
    augment: Callable[[Tensor], Tensor] | None = None,
) -> tuple[float, float]:
    """One pass over ``loader``; ``model`` may be the DDP wrapper of ``net``.

    Returns the epoch's mean loss and accuracy over every process's samples.
    """
    net = model if net is None else net
    device = device or torch.device("cpu")
    precision = precision or Precision(device.type)
    scaler = precision.scaler
    model.train()
    adders = adder_weights(net)
    params = [p for p in net.parameters() if p.requires_grad]
    clipped = _clipped_params(params, adders, cfg.grad_clip_adders)
    _, size = dist.world()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(
        loader,
        desc=f"{name} epoch {epoch}",
        leave=False,
        disable=None if dist.is_main() else True,
        file=sys.stderr,
    )
    for step, (x_all, y_all) in enumerate(bar):
        n_global = len(y_all)
        if n_global < size:
            continue  # a last batch too small to give every process a sample (documented)
        if augment is not None:  # the global batch, before it is split between processes
            x_all = augment(x_all)
        x, y = dist.shard(x_all, y_all)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with precision.autocast():
            logits = model(x)
            loss = loss_fn(logits, x, y)
        # DDP averages gradients over processes; weighting each by its share of the global
        # batch makes that average the gradient of the global batch's mean loss.
        weighted = loss * (len(y) * size / n_global) if size > 1 else loss
        opt.zero_grad(set_to_none=True)
        (scaler.scale(weighted) if scaler is not None else weighted).backward()
        value = loss.item()
        if scaler is not None:
            scaler.unscale_(opt)
        where = f"epoch {epoch}, step {step}"
        if dist.any_true(not math.isfinite(value)):
            shown = value if not math.isfinite(value) else "non-finite"
            raise _nonfinite_error(net, x, precision, f"{name}: loss became {shown}", where)
        grads = [p.grad for p in params if p.grad is not None]
        grad_norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
        if not math.isfinite(grad_norm) and scaler is None:
            # Identical on every process: DDP has already summed the gradients.
            raise _nonfinite_error(net, x, precision, f"{name}: gradients became non-finite", where)
        _step(opt, scaler, adders, clipped, cfg)
        total_loss += value * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{total_loss / max(seen, 1):.4f}")
    total_loss, correct, seen = dist.all_sum([total_loss, float(correct), float(seen)])
    if seen == 0:
        raise AdderflowError(f"{name}: the training split gave no batch to train on")
    return total_loss / seen, correct / seen


# ---------------------------------------------------------------------------- TensorBoard


def _tensorboard(cfg: TrainConfig, ckpt_path: Path, name: str, start: int, log):
    if not cfg.tensorboard or not dist.is_main():
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log(f"[{name}] tensorboard is not installed; logging to CSV only")
        return None
    # On resume, drop whatever a killed run logged past its last checkpoint.
    purge = start + 1 if start > 0 else None
    return SummaryWriter(log_dir=str(tensorboard_of(ckpt_path, name)), purge_step=purge)


# ---------------------------------------------------------------------------------- fit


def _resume(ckpt_path: Path, model, opt, sched, device, precision, history: History) -> int:
    """Model, optimizer, schedule, RNG and curves from ``ckpt_path``; the next epoch."""
    state = load_checkpoint(ckpt_path)
    load_state(model, state["model"], ckpt_path)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if "cuda_rng" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    if "scaler" in state and precision.scaler is not None:
        precision.scaler.load_state_dict(state["scaler"])
    history.rows = list(state["history"])
    return int(state["epoch"]) + 1


def _save_epoch(ckpt_path: Path, model, opt, sched, device, precision, epoch: int,
                history: History) -> None:  # fmt: skip
    """The checkpoint a resume continues from, and the curves CSV beside it."""
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": torch.get_rng_state(),
        "epoch": epoch,
        "history": history.rows,
    }
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    if precision.scaler is not None:
        state["scaler"] = precision.scaler.state_dict()
    save_checkpoint(ckpt_path, state)
    atomic_write_text(curves_of(ckpt_path), history.to_csv())


def _data_parallel(model: nn.Module, device, name: str, say, training: bool) -> nn.Module:
    """``model`` wrapped for torchrun's processes (DDP)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    wrapped = DistributedDataParallel(model, device_ids=ids)
    _, size = dist.world()
    if training and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        say(
            f"[{name}] {size} processes: batch norm normalizes each process's slice "
            f"of the batch (no cross-process statistics on {device.type})"
        )
    return wrapped


def _augmenter(augment: str, seed: int) -> Callable[[Tensor], Tensor] | None:
    """``data.augment`` for one epoch, drawn from its own generator (``seed``: the epoch's)."""
    if augment == "none":
        return None
    generator = torch.Generator().manual_seed(seed + 1_000_003)
    return lambda x: augment_batch(x, augment, generator)


def fit(
    model: nn.Module,
    data,
    cfg: TrainConfig,
    *,
    loss_fn: LossFn,
    ckpt_path: Path,
    name: str,
    batch_size: int,
    seed: int,
    log: Callable[[str], None] = print,
    on_epoch: Callable[[int, int], None] | None = None,
    augment: str = "none",
) -> History:
    """Train ``model`` for ``cfg.epochs``, resuming from ``ckpt_path`` when it exists.

    ``on_epoch(epoch, epochs)`` runs before each epoch (0-based), resumed ones included:
    schedules that live outside the optimizer (a distillation ramp, NGD's ``p``) hang there.
    ``batch_size`` is the global batch: under torchrun each process takes its slice.
    ``augment`` is ``data.augment`` (``augment_batch``), drawn from ``seed`` and the epoch.
    """
    device = resolve_device(cfg, "teacher" if name == "teacher" else "student")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    distributed = dist.init_from_env(device)
    main = dist.is_main()
    say = log if main else (lambda _message: None)
    model.to(device)
    precision = precision_for(cfg, device)
    opt, sched = _make_optimizer(model, cfg, cfg.epochs)
    history, start = History(), 0
    if ckpt_path.exists():
        start = _resume(ckpt_path, model, opt, sched, device, precision, history)
        if start < cfg.epochs:
            say(f"[{name}] resuming from {ckpt_path.name} at epoch {start + 1}/{cfg.epochs}")
    trained = _data_parallel(model, device, name, say, start < cfg.epochs) if distributed \
        else model  # fmt: skip
    hooks = full_precision_adders(model, precision.device_type) if precision.dtype else []
    writer = _tensorboard(cfg, ckpt_path, name, start, say) if start < cfg.epochs else None
    try:
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            if on_epoch is not None:
                on_epoch(epoch, cfg.epochs)
            loader = make_loader(
                data.train_x, data.train_y, batch_size, shuffle=True, seed=seed + epoch
            )
            lr = float(opt.param_groups[0]["lr"])
            loss, train_acc = _train_epoch(
                trained, loader, opt, loss_fn, cfg, name, epoch + 1, net=model, device=device,
                precision=precision, augment=_augmenter(augment, seed + epoch),
            )  # fmt: skip
            sched.step()
            if cfg.bn_recompute and adder_weights(model):
                for network in trained_networks(model):
                    recompute_batch_norm(network, data.train_x, cfg.bn_recompute)
            test_acc = accuracy(model, data.test_x, data.test_y)
            row = {
                "epoch": epoch + 1,
                "loss": loss,
                "train_acc": train_acc,
                "test_acc": test_acc,
                "lr": lr,
            }
            history.rows.append(row)
            if main:
                _save_epoch(ckpt_path, model, opt, sched, device, precision, epoch, history)
                if writer is not None:
                    for key in ("loss", "train_acc", "test_acc", "lr"):
                        writer.add_scalar(key, row[key], epoch + 1)
                    writer.flush()
            dist.barrier()  # no process reads a checkpoint before rank 0 has written it
            # Logged only once saved: an epoch the log reports is an epoch a resume keeps.
            say(
                f"[{name}] epoch {epoch + 1}/{cfg.epochs}  loss {loss:.4f}  "
                f"train_acc {train_acc:.4f}  test_acc {test_acc:.4f}  "
                f"({time.perf_counter() - t0:.1f}s)"
            )
    finally:
        for handle in hooks:
            handle.remove()
        if writer is not None:
            writer.close()
        model.to("cpu")
    return history


def load_trained(model: nn.Module, ckpt_path: Path) -> nn.Module:
    load_state(model, load_checkpoint(ckpt_path)["model"], ckpt_path)
    return model.eval()
