"""Real training code with only the import swapped: dcgan_train.py run with torchvision and
with ``from imgsink import save_image``, in the same directory layout (the daemon's
--output-root is the script's working directory), leaves the same files with the same pixels,
the last one saved by the script's final statement included."""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pytest

from conftest import imgsinkd_path, real_daemon
from dropin_helpers import HERE, child_env, file_pixels, run_python

SWAP = ("from torchvision.utils import save_image", "from imgsink import save_image")


@pytest.mark.skipif(imgsinkd_path() is None, reason="imgsinkd is not built")
def test_dcgan_script_with_the_import_swapped_writes_torchvisions_files(tmp_path):
    with open(os.path.join(HERE, "dcgan_train.py")) as f:
        script = f.read()
    assert SWAP[0] in script
    tv_dir = tmp_path / "torchvision"
    tv_dir.mkdir()
    (tv_dir / "train.py").write_text(script)
    out = run_python(["train.py"], cwd=tv_dir, env=child_env("ipc:///nonexistent"))
    assert out.returncode == 0, out.stderr

    root = tempfile.mkdtemp(prefix="imgsink-gan-", dir="/tmp")
    try:
        daemon = real_daemon(root)  # its output root is the script's working directory
        try:
            with open(os.path.join(daemon.out, "train.py"), "w") as f:
                f.write(script.replace(*SWAP))
            out = run_python(["train.py"], cwd=daemon.out, env=child_env(daemon.endpoint))
            assert out.returncode == 0, out.stderr
            assert "no imgsinkd listens" not in out.stderr  # the daemon wrote them
            want = sorted(os.listdir(tv_dir / "samples"))
            assert len(want) == 6 and "final.png" in want
            assert sorted(os.listdir(os.path.join(daemon.out, "samples"))) == want
            for name in want:
                np.testing.assert_array_equal(
                    file_pixels(os.path.join(daemon.out, "samples", name)),
                    file_pixels(tv_dir / "samples" / name), err_msg=name)
        finally:
            daemon.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
