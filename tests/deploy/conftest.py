"""Shared fixtures of the deploy tests: the build tree under test and staged installs of it.

The tests never install onto this machine: every install goes to a temp dir through DESTDIR.
"""
import os
import pathlib
import re
import subprocess

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("IMGSINK_SOURCE_DIR", pathlib.Path(__file__).parents[2]))


def _binary_dir():
    if "IMGSINK_BINARY_DIR" in os.environ:
        return pathlib.Path(os.environ["IMGSINK_BINARY_DIR"])
    if "IMGSINK_BIN_DIR" in os.environ:  # <build>/bin
        return pathlib.Path(os.environ["IMGSINK_BIN_DIR"]).parent
    pytest.exit("set IMGSINK_BINARY_DIR to the build tree (ctest does)", returncode=2)


BINARY_DIR = _binary_dir()


def run(cmd, **kwargs):
    """Runs cmd; returns the CompletedProcess (text, stdout+stderr captured separately)."""
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)


def check(cmd, **kwargs):
    """Runs cmd and fails the test with its output unless it exits 0."""
    p = run(cmd, **kwargs)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def cache_value(name):
    """The value of `name` in the build tree's CMakeCache.txt."""
    text = (BINARY_DIR / "CMakeCache.txt").read_text()
    m = re.search(rf"^{re.escape(name)}:[A-Z]+=(.*)$", text, re.M)
    assert m, f"{name} not in CMakeCache.txt"
    return m.group(1)


def parse_unit(text):
    """Parses a systemd unit into {section: [(key, value), ...]} (keys may repeat)."""
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


def staged_install(destdir, component, prefix=None):
    """DESTDIR=destdir cmake --install <build> --component component [--prefix prefix]."""
    cmd = ["cmake", "--install", BINARY_DIR, "--component", component]
    if prefix:
        cmd += ["--prefix", prefix]
    check(cmd, env={**os.environ, "DESTDIR": str(destdir)})


@pytest.fixture(scope="session")
def install_prefix():
    return cache_value("CMAKE_INSTALL_PREFIX")

