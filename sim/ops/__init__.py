"""adderflow's custom ops, registered with qonnx under the ONNX domain ``adderflow``.

Every module of this package is imported and each concrete ``IntegerOp`` subclass it
defines becomes an op of the IR, named by its class (a name defined twice is refused), so
adding an op is adding its module. Importing the package registers them with qonnx, which
then finds each by domain and class name, so ``qonnx.core.onnx_exec.execute_onnx`` runs
adderflow models unchanged.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from qonnx.custom_op.registry import add_op_to_domain

from adderflow.sim.ops.base import DOMAIN, IntegerOp


class DuplicateOp(RuntimeError):
    """Two modules of ``sim.ops`` define an op of the same name."""


def discover(path: list[str], package: str) -> dict[str, type[IntegerOp]]:
    """The ops defined by the modules of ``package`` (found on ``path``), by name."""
    ops: dict[str, type[IntegerOp]] = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        for cls in vars(module).values():
            if not _defines_op(cls, module.__name__):
                continue
            if cls.__name__ in ops:
                raise DuplicateOp(
                    f"op '{cls.__name__}' is defined twice: in {ops[cls.__name__].__module__} "
                    f"and in {module.__name__}"
                )
            ops[cls.__name__] = cls
    return ops


def _defines_op(cls: object, module: str) -> bool:
    return (
        inspect.isclass(cls)
        and issubclass(cls, IntegerOp)
        and cls.__module__ == module
        and not cls.__dict__.get("abstract", False)
    )


OPS: dict[str, type[IntegerOp]] = discover(__path__, __name__)
for _cls in OPS.values():
    add_op_to_domain(DOMAIN, _cls)
globals().update(OPS)  # ``from adderflow.sim.ops import <Op>`` keeps working


def op_class(node) -> type[IntegerOp] | None:
    """The op class of an ONNX node of the adderflow domain (None for any other node)."""
    return OPS.get(node.op_type) if node.domain == DOMAIN else None


def binary_layers(model) -> list[str]:
    """Names of the binary layers (DESIGN.md rule 6, the ops' ``binary`` trait) of an IR
    model."""
    return [node.name or node.output[0] for node in model.graph.node if _is_binary_layer(node)]


def _is_binary_layer(node) -> bool:
    cls = op_class(node)
    return cls is not None and cls.binary()


__all__ = ["DOMAIN", "OPS", "binary_layers", "op_class", *OPS]  # fmt: skip
