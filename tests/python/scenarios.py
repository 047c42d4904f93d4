"""Ways a Python training program ends or is structured, each saving images through imgsink's
module-level ``save_image`` (the drop-in use) into ``<prefix>/...`` relative paths.

Run as ``python3 scenarios.py SCENARIO PREFIX`` with IMGSINK_ENDPOINT set; ``expected(SCENARIO,
PREFIX)`` returns {path: seed} of every file the run must leave, and ``tensor_for(seed)`` the
tensor saved there, so a test can compare each file with torchvision's pixels.

The images are >= 64 KiB (sent zero-copy by pyzmq, whose own atexit hook used to run before
imgsink's flush) and the last save of each process is its last statement.
"""
from __future__ import annotations

import os
import sys
import threading

SCENARIOS = ("exit", "numpy_exit", "sys_exit", "exception", "fork", "spawn", "pool",
             "dataloader", "torch_spawn", "threads")
_N = {"exit": 10, "numpy_exit": 10, "sys_exit": 6, "exception": 6, "threads": 4}
_PROCS, _PER_PROC = 3, 3       # fork / spawn / torch_spawn
_POOL_TASKS, _LOADER_ITEMS = 6, 6


def expected(scenario: str, prefix: str) -> dict:
    """{relative path: seed} of the files ``scenario`` must write."""
    if scenario in ("fork", "spawn", "torch_spawn"):
        return {f"{prefix}/r{r}_{i}.png": 100 * r + i
                for r in range(_PROCS) for i in range(_PER_PROC)}
    if scenario == "pool":
        return {f"{prefix}/t{i}.png": i for i in range(_POOL_TASKS)}
    if scenario == "dataloader":
        return {f"{prefix}/d{i}.png": i for i in range(_LOADER_ITEMS)}
    if scenario == "threads":
        return {f"{prefix}/th{t}_{i}.png": 10 * t + i for t in range(4) for i in range(_N["threads"])}
    return {f"{prefix}/{i}.png": i for i in range(_N[scenario])}


def tensor_for(seed: int, numpy: bool = False):
    """The batch saved under ``seed``: 4x3x64x64 in [0, 1) (196 KiB of float32)."""
    import numpy as np
    a = np.random.default_rng(seed).random((4, 3, 64, 64), dtype=np.float32)
    if numpy:
        return a
    import torch
    return torch.from_numpy(a)


def _save(path: str, seed: int, numpy: bool = False) -> None:
    import imgsink
    imgsink.save_image(tensor_for(seed, numpy), path)


def _rank(rank: int, prefix: str) -> None:
    for i in range(_PER_PROC):
        _save(f"{prefix}/r{rank}_{i}.png", 100 * rank + i)


def _task(args) -> int:
    i, prefix = args
    _save(f"{prefix}/t{i}.png", i)
    return i


class _Saving:  # a Dataset whose __getitem__ saves (DataLoader workers)
    def __init__(self, prefix):
        self.prefix = prefix

    def __len__(self):
        return _LOADER_ITEMS

    def __getitem__(self, i):
        _save(f"{self.prefix}/d{i}.png", i)
        return i


def _thread(t: int, prefix: str) -> None:
    for i in range(_N["threads"]):
        _save(f"{prefix}/th{t}_{i}.png", 10 * t + i)


def main(scenario: str, prefix: str) -> None:
    import imgsink  # noqa: F401  (imported first, as a training script would)
    if scenario in ("exit", "numpy_exit", "sys_exit", "exception"):
        for path, seed in expected(scenario, prefix).items():
            _save(path, seed, numpy=scenario == "numpy_exit")
        if scenario == "sys_exit":
            sys.exit(0)
        if scenario == "exception":
            raise RuntimeError("the training loop failed after its last save")
    elif scenario in ("fork", "spawn"):
        import multiprocessing as mp
        ctx = mp.get_context(scenario)
        procs = [ctx.Process(target=_rank, args=(r, prefix)) for r in range(_PROCS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        sys.exit(max(abs(p.exitcode) for p in procs))
    elif scenario == "pool":
        import multiprocessing as mp
        with mp.get_context("fork").Pool(3) as pool:
            pool.map(_task, [(i, prefix) for i in range(_POOL_TASKS)])
    elif scenario == "dataloader":
        import torch.utils.data
        loader = torch.utils.data.DataLoader(_Saving(prefix), batch_size=2, num_workers=2)
        for _ in loader:
            pass
    elif scenario == "torch_spawn":
        import torch.multiprocessing
        torch.multiprocessing.spawn(_rank, args=(prefix,), nprocs=_PROCS)
    elif scenario == "threads":
        threads = [threading.Thread(target=_thread, args=(t, prefix)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads[:2]:
            t.join()  # the others may still be saving when the main thread ends
    else:
        raise SystemExit(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv[1], sys.argv[2])
