"""``model.arch=module:MODULE:FACTORY``: a user's own network as a run's model.

Each bad factory is one error line naming the arch and what is wrong, raised before a run
directory exists; a good one is called with the keywords it takes and converted to adder
layers when it returns a plain CNN. No training here (docs/your-model.md is run end to end
by tests/test_your_model_doc.py).
"""

from __future__ import annotations

import itertools
import re
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from adderflow.cli import main
from adderflow.config import load_config
from adderflow.errors import ConfigError
from adderflow.models.user import user_model
from adderflow.nn import AdderConv2d, AdderLinear
from adderflow.runs import with_absolute_paths

_names = itertools.count()

PLAIN = """
from torch import nn

def make(num_classes=10, width=4, in_channels=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes),
    )
"""


def _module(tmp_path: Path, source: str) -> str:
    """A fresh module in ``tmp_path`` (a new name each time: imports are cached)."""
    name = f"user_net_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def _build(arch: str, kind: str = "adder", shape=(1, 8, 8), classes: int = 10) -> nn.Module:
    return user_model(arch, kind, num_classes=classes, input_shape=shape, width=4,
                      width_mult=1.0, dataset="digits")  # fmt: skip


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_plain_cnn_becomes_an_adder_net_first_and_last_kept(here):
    arch = f"module:{_module(here, PLAIN)}:make"
    adder = _build(arch, "adder")
    assert isinstance(adder[0], nn.Conv2d) and isinstance(adder[-1], nn.Linear)
    assert isinstance(adder[3], AdderConv2d)
    assert not any(isinstance(m, AdderConv2d) for m in _build(arch, "cnn").modules())
    assert adder(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def test_the_factory_gets_only_the_keywords_it_takes(here):
    source = """
    from torch import nn
    from adderflow.nn import AdderLinear

    SEEN = []

    def make(kind, input_shape, num_classes=3):
        SEEN.append((kind, input_shape, num_classes))
        hidden = AdderLinear(64, 8) if kind == "adder" else nn.Linear(64, 8)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), hidden, nn.BatchNorm1d(8),
                             nn.Linear(8, num_classes))
    """
    name = _module(here, source)
    model = _build(f"module:{name}:make", "adder", classes=5)
    assert __import__(name).SEEN == [("adder", (1, 8, 8), 5)]
    # It built its own adder layer: nothing else is swapped (the first Linear stays).
    assert [type(m) for m in model][1:3] == [nn.Linear, AdderLinear]


def test_a_python_file_path_works_and_the_run_config_keeps_it_absolute(here):
    name = _module(here, PLAIN)
    cfg = load_config(None, [f"model.arch=module:{name}.py:make"])
    assert isinstance(_build(cfg.model.arch)[3], AdderConv2d)
    assert with_absolute_paths(cfg).model.arch == f"module:{here / name}.py:make"


@pytest.mark.parametrize(
    "arch",
    ["module:my_cnn", "module::make", "module:my cnn:make", "module:my_cnn:make-it"],
)
def test_a_malformed_arch_is_refused_by_the_config_with_the_form(arch):
    with pytest.raises(ConfigError, match=re.escape("is not of the form module:MODULE:FACTORY")):
        load_config(None, [f"model.arch={arch}"])


def test_an_unknown_arch_lists_the_user_form_too():
    with pytest.raises(ConfigError, match=re.escape("your own network: module:MODULE:FACTORY")):
        load_config(None, ["model.arch=vgg"])


BAD = {
    "no module": ("module:no_such_module_here:make", None,
                  "no module named 'no_such_module_here' (searched the working directory"),
    "broken import": (None, "import no_such_dependency\n",
                      "failed: ModuleNotFoundError: No module named 'no_such_dependency'"),
    "no attribute": (None, "def make_model():\n    pass\n",
                     "has no attribute 'make'; it defines: make_model"),
    "not callable": (None, "make = 3\n", "is a int, not a function or class"),
    "raises": (None, "def make(num_classes):\n    raise ValueError('width too small')\n",
               "make(num_classes=10) raised ValueError: width too small"),
    "not a module": (None, "def make():\n    return {}\n",
                     "returned a dict, not a torch.nn.Module"),
    "needs an argument": (None, "def make(depth):\n    pass\n",
                          "the factory needs argument 'depth', which adderflow does not supply"),
    "wrong input": (None, "from torch import nn\ndef make():\n    return nn.Linear(5, 10)\n",
                    "cannot take digits inputs: a batch of shape (2, 1, 8, 8) failed"),
    "wrong output": (None, "from torch import nn\ndef make():\n"
                           "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 7))\n",
                     "returned (2, 7); expected logits of shape (2, 10) (10 classes)"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_a_bad_factory_is_one_error_naming_it(here, case):
    arch, source, message = BAD[case]
    arch = arch or f"module:{_module(here, source)}:make"
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        _build(arch, "cnn")
    assert str(caught.value).startswith(f"model.arch={arch}: ")
    assert "\n" not in str(caught.value)


def test_the_cli_refuses_a_bad_factory_before_making_the_run(here, capsys):
    name = _module(here, "from torch import nn\ndef make():\n    return nn.Linear(64, 10)\n")
    argv = ["run", "--quick", "--out", "r", "--set", f"model.arch=module:{name}:make"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"adderflow: error: model.arch=module:{name}:make: ")
    assert "cannot take digits inputs" in err and not (here / "r").exists()


def test_run_help_shows_the_form(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "model.arch=module:MODULE:FACTORY" in capsys.readouterr().out


def test_feature_distillation_needs_feature_blocks(here, capsys):
    name = _module(here, PLAIN)
    argv = ["train", "--quick", "--out", "r", "--set", f"model.arch=module:{name}:make",
            "--set", "distill.method=pkkd"]  # fmt: skip
    assert main(argv) == 2
    assert "distill.method=pkkd matches block features, so the model needs a feature_blocks()" \
        in capsys.readouterr().err  # fmt: skip
    assert not (here / "r").exists()


def test_api_train_names_an_unknown_option():
    from adderflow import api
    from adderflow.data import load_dataset

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(ConfigError, match=r"train: unknown option\(s\) lrr \(the student\.\*"):
        api.train(model, load_dataset("digits"), epochs=1, lrr=0.1)
