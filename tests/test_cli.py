"""The command line: ``python -m handson doctor`` and the demo's model list (CI runs the demo itself)."""
from __future__ import annotations

import subprocess
import sys

from handson import models
from handson.__main__ import _models


def test_demo_fits_every_model_class_of_the_library():
    classes = {type(m).__name__ for m in _models(seed=0).values()}
    every = set(models._LAZY) - {"TorchRecommender"}
    assert every <= classes, f"the demo misses {sorted(every - classes)}"


def test_demo_learned_models_validate_and_stay_quiet():
    for name, model in _models(seed=0).items():
        if hasattr(model, "epochs"):
            assert model.verbose is False and model.eval_every == 5, name


def test_doctor_prints_versions_and_offline_encoders():
    out = subprocess.run([sys.executable, "-m", "handson", "doctor"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for word in ("python", "torch", "device"):
        assert word in out.stdout.lower(), out.stdout


def test_unknown_command_fails_with_usage():
    out = subprocess.run([sys.executable, "-m", "handson", "fly"], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "invalid choice" in out.stderr
