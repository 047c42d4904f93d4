"""The documented pip path on Debian 12 (README "Python client"), from a clean state: a venv made
with Debian's own ``python3 -m venv --system-site-packages`` (torch, numpy, pyzmq, msgpack come
from Debian's packages), ``pip install --no-build-isolation --no-index`` of client/python (no
network: setuptools is Debian's too), then a user's script imports imgsink from the venv and
saves through an auto-started daemon, pixel-identical to torchvision.

(Debian's pip refuses the system interpreter itself -- PEP 668, "externally-managed-
environment" -- which is why the README says venv; checked below so the README stays true.)"""
import os
import shutil
import subprocess

import pytest

from conftest import BINARY_DIR, SOURCE_DIR, check
from python_smoke import run_smoke

PYTHON = "/usr/bin/python3"


def _missing(what):
    pytest.skip(f"{what} is not installed here (Debian: apt install python3-venv python3-pip)")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    if subprocess.run([PYTHON, "-c", "import venv, ensurepip"], capture_output=True).returncode:
        _missing("python3-venv")
    tmp = tmp_path_factory.mktemp("pip")
    # pip builds in the source tree (build/, *.egg-info): install from a copy, keep the tree clean.
    src = tmp / "src"
    shutil.copytree(SOURCE_DIR / "client" / "python", src,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    v = tmp / "v"
    check([PYTHON, "-m", "venv", "--system-site-packages", v])
    if not (v / "bin" / "pip").exists():
        _missing("python3-pip")
    check([v / "bin" / "pip", "install", "--no-build-isolation", "--no-index", src],
          cwd=tmp, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), "PIP_NO_CACHE_DIR": "1"})
    return v


def test_pip_installs_into_a_system_site_packages_venv(venv):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # not the source tree's
    out = check([venv / "bin" / "python", "-c",
                 "import imgsink, zmq, numpy, msgpack; print(imgsink.__file__)"], cwd=venv,
                env=env)
    assert out.stdout.strip().startswith(str(venv / "lib")), out.stdout


def test_the_venv_client_saves_through_an_auto_started_daemon(venv, tmp_path):
    run_smoke(venv / "bin" / "python", venv / "lib", BINARY_DIR / "bin" / "imgsinkd", tmp_path)


def test_debians_pip_refuses_the_system_python_as_the_readme_says(tmp_path):
    if not shutil.which("pip3") and subprocess.run([PYTHON, "-m", "pip", "--version"],
                                                   capture_output=True).returncode:
        _missing("python3-pip")
    src = tmp_path / "src"
    shutil.copytree(SOURCE_DIR / "client" / "python", src,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    p = subprocess.run([PYTHON, "-m", "pip", "install", "--dry-run", "--no-index",
                        "--no-build-isolation", src],
                       capture_output=True, text=True, cwd=tmp_path)
    if "externally-managed-environment" not in p.stdout + p.stderr:
        pytest.skip("this python3 is not marked externally managed (not Debian 12's)")
    assert p.returncode != 0
