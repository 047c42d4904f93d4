"""CURVE keys for tcp:// endpoints (the daemon admits only listed client public keys).

A key is given as its 40-character Z85 text, or as the path of a key file: the first line that
is neither blank nor a '#' comment holds the Z85 key (the daemon's own key file format).

Thread-safety: pure functions.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Tuple, Union

__all__ = ["CurveKeys", "load_curve"]

# (server public key, client public key, client secret key), each Z85 as bytes.
CurveKeys = Tuple[bytes, bytes, bytes]
KeySpec = Union[str, bytes, "os.PathLike[str]"]


def _z85(spec: KeySpec, what: str) -> bytes:
    if isinstance(spec, bytes) and len(spec) == 40:
        return spec
    if isinstance(spec, str) and len(spec) == 40 and not os.path.exists(spec):
        return spec.encode("ascii")
    try:
        with open(os.fspath(spec), "rb") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith(b"#"):
                    if len(line) != 40:
                        break
                    return line
    except (OSError, TypeError) as e:
        raise ValueError(f"{what}: neither a 40-character Z85 key nor a readable key file "
                         f"({e})") from None
    raise ValueError(f"{what}: the key file {spec!r} holds no 40-character Z85 key")


def load_curve(curve: Optional[Sequence[KeySpec]]) -> Optional[CurveKeys]:
    """Returns the keys for ``curve`` = (server public, client public, client secret), or from
    ``IMGSINK_CURVE`` ("SERVER,PUBLIC,SECRET", keys or key files) when ``curve`` is None; None
    when neither is set.  Raises TypeError/ValueError for malformed keys."""
    if curve is None:
        env = os.environ.get("IMGSINK_CURVE")
        if not env:
            return None
        curve = env.split(",")
    if isinstance(curve, (str, bytes)) or len(curve) != 3:
        raise TypeError("curve must be (server public key, client public key, client secret "
                        "key): Z85 strings or key file paths")
    names = ("server public key", "client public key", "client secret key")
    server, public, secret = (_z85(spec, name) for spec, name in zip(curve, names))
    return server, public, secret
