"""Helpers of the drop-in tests: torchvision's own pixels for a tensor, a file's pixels, and
running a Python script in a child process the way a user would."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("IMGSINK_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))


def torchvision_pixels(tensor, fmt: str = "png", **kwargs) -> np.ndarray:
    """What torchvision.utils.save_image writes for ``tensor``, decoded."""
    import torch
    import torchvision.utils
    from PIL import Image
    if isinstance(tensor, np.ndarray):
        tensor = torch.from_numpy(tensor)
    buf = io.BytesIO()
    torchvision.utils.save_image(tensor, buf, format=fmt, **kwargs)
    buf.seek(0)
    return np.asarray(Image.open(buf))


def file_pixels(path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im)


def child_env(endpoint: str, **extra: str) -> dict:
    env = dict(os.environ, IMGSINK_ENDPOINT=endpoint, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([os.path.join(SOURCE, "client", "python"), HERE]))
    env.update(extra)
    return env


def run_python(args, cwd, env, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
