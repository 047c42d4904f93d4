"""Exceptions raised by the imgsink client.

Argument mistakes found before anything is sent are plain ``TypeError``/``ValueError`` (like
torchvision).  Everything the daemon (or the connection to it) reports is an ``ImgsinkError``
carrying the protocol's stable error code (proto/PROTOCOL.md, "Error codes").
"""

from __future__ import annotations

__all__ = ["ImgsinkError", "Busy", "error_from_code"]


class ImgsinkError(Exception):
    """A request the daemon refused, a job that failed, or a client-side wait/connection error.

    ``code`` is the protocol's error code (``"bad_path"``, ``"write_failed"``, ``"busy"``,
    ``"timeout"``, ``"disconnected"``, ...); ``message`` is the human-readable explanation.
    """

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code

    def __reduce__(self):  # keep code/message through pickling (multiprocessing, futures)
        return (type(self), (self.code, self.message))


class Busy(ImgsinkError):
    """No room for the job now: the daemon (code ``busy``) or the client's own pending budget
    is full and the policy was ``error``, ``drop``, or ``block`` whose wait ran out."""

    def __init__(self, code: str = "busy", message: str = "") -> None:
        super().__init__(code, message)


def error_from_code(code: str, message: str) -> ImgsinkError:
    """Returns the exception class that fits ``code`` (``Busy`` for ``busy``)."""
    if code == "busy":
        return Busy(code, message)
    return ImgsinkError(code, message)
