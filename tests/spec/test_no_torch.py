"""The spec is plain data: importing it loads no torch (nor the blocks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["roadmap.spec", "roadmap.registry", "roadmap.channels"])
def test_importing_the_module_loads_no_torch(module):
    code = (
        f"import {module}, sys; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_package_still_gives_build_model_on_first_use():
    code = (
        "import sys, roadmap; assert 'torch' not in sys.modules; "
        "from roadmap import build_model, UNet; assert 'torch' in sys.modules; "
        "assert isinstance(roadmap.build_model('unet', 'w16'), roadmap.UNet)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
