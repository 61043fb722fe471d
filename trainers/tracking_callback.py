"""The trainer callback that logs a training stage to MLflow (see :mod:`teacherforge.trainers.tracking`).

Kept apart from :mod:`teacherforge.trainers.tracking` so that the ``report_to`` policy imports
without ``transformers`` (seconds of import time on a config check).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback

from teacherforge.trainers.tracking import MLflowStore


class MLflowLogger(TrainerCallback):
    """Logs one training stage to its own MLflow run: ``params`` at the start, then every scalar
    of each trainer log at the global step; the run ends when training does. Only the main
    process logs."""

    def __init__(self, store: MLflowStore, run_name: str, params: Mapping[str, Any]) -> None:
        self.store, self.run_name, self.params = store, run_name, dict(params)
        self.run_id: str | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.run_id is None:
            self.run_id = self.store.start_run(self.run_name, self.params)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if self.run_id is not None and logs:
            self.store.log_metrics(self.run_id, logs, step=state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.end()

    def end(self, status: str = "FINISHED") -> None:
        """End the open MLflow run, if any, as ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        if self.run_id is not None:
            self.store.client.set_terminated(self.run_id, status=status)
            self.run_id = None
