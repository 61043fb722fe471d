"""Machine and version lines every benchmark prints next to its figures (kept for scripts that
import ``machine``; the helpers live in :mod:`benchkit`)."""

from __future__ import annotations

from benchkit import machine_info, machine_report

__all__ = ["machine_info", "machine_report"]
