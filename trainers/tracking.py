"""Where training and evaluation metrics go: the ``report_to`` policy, W&B setup and the MLflow store.

``sft.report_to`` and ``grpo.report_to`` are ``auto``, ``none`` or trackers joined by commas
(``wandb``, ``mlflow``, ``wandb,mlflow``). ``auto`` picks each installed tracker the environment
asks for: W&B when ``WANDB_MODE`` is set (and not ``disabled``), MLflow when
``MLFLOW_TRACKING_URI`` is set.

- **W&B** goes through the HF trainer (:func:`report_targets`), offline unless ``WANDB_MODE``
  says otherwise, its files in the stage's output directory unless ``WANDB_DIR`` is set.
- **MLflow** goes through :class:`~teacherforge.trainers.tracking_callback.MLflowLogger`, a trainer callback with its own client on an
  explicit store, not HF's ``MLflowCallback``: that one takes the store from the process-wide
  ``MLFLOW_TRACKING_URI`` (which ``mlflow.set_tracking_uri`` also writes), so a second run dir
  trained in the same process (a feedback round) would log into the first one's store, and it
  logs asynchronously. The store is ``MLFLOW_TRACKING_URI`` when set, else
  ``sqlite:///<run_dir>/mlflow.db`` (:attr:`~teacherforge.run_paths.RunPaths.mlflow_store`),
  opened before training starts (:func:`open_store`: an unusable store is a one-line error);
  the experiment is ``MLFLOW_EXPERIMENT_NAME`` or the config's ``name``. Each stage is one MLflow
  run (``<name>-sft``, ``<name>-grpo``, ``<name>-eval``) with its config section as params and
  every scalar the trainer logs as a metric at the global step: the loss, TRL's ``reward`` and
  ``rewards/<component>/mean``, the rollout's ``env/retrieval_hit_rate``, ...
  :func:`log_evaluation` adds the evaluation summary (F1, EM with their 95% intervals, grounded,
  gold hit rate per mode and model).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teacherforge.config import Config
from teacherforge.run import RunLayout

if TYPE_CHECKING:
    from teacherforge.trainers.tracking_callback import MLflowLogger

#: The environment variable that asks ``auto`` for each tracker.
_AUTO_ENV = {"wandb": "WANDB_MODE", "mlflow": "MLFLOW_TRACKING_URI"}


def trackers(choice: str | Sequence[str]) -> tuple[str, ...]:
    """The trackers a ``report_to`` value names (``auto`` resolved as the module docstring says).

    >>> trackers("wandb,mlflow"), trackers("none")
    (('wandb', 'mlflow'), ())
    """
    if not isinstance(choice, str):
        return tuple(choice)
    if choice == "none":
        return ()
    if choice == "auto":
        return tuple(
            name
            for name, var in _AUTO_ENV.items()
            if os.environ.get(var, "disabled") != "disabled" and importlib.util.find_spec(name) is not None
        )
    return tuple(name.strip() for name in choice.split(","))


def report_targets(
    choice: str | Sequence[str], output_dir: str | os.PathLike[str] | None = None
) -> list[str]:
    """``report_to`` for the HF trainer: ``["wandb"]`` when ``choice`` names W&B, else ``[]``.

    Sets ``WANDB_MODE`` (``offline``), ``WANDB_PROJECT`` (``teacherforge``) and ``WANDB_DIR``
    (``output_dir``) unless the user did. MLflow is never in the list: :func:`mlflow_logger` adds its callback.
    """
    if "wandb" not in trackers(choice):
        return []
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_PROJECT", "teacherforge")
    if output_dir is not None and "WANDB_DIR" not in os.environ:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        os.environ["WANDB_DIR"] = str(output_dir)
    return ["wandb"]


@dataclass(frozen=True)
class MLflowStore:
    """An opened MLflow tracking store and the experiment a run dir's stages log to."""

    uri: str
    experiment_id: str
    client: Any  # mlflow.tracking.MlflowClient

    def start_run(self, name: str, params: Mapping[str, Any]) -> str:
        """Create a run called ``name`` with ``params``; return its id."""
        from mlflow.entities import Param

        run_id = self.client.create_run(self.experiment_id, run_name=name).info.run_id
        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(run_id, params=items[i : i + 100])
        return run_id

    def log_metrics(self, run_id: str, values: Mapping[str, Any], step: int) -> None:
        """Log every finite number in ``values`` at ``step`` (names made MLflow-safe)."""
        import math
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(re.sub(r"[^0-9A-Za-z_\-. :/]", "_", k), float(v), now, step)
            for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        ]
        if metrics:
            self.client.log_batch(run_id, metrics=metrics)


def open_store(config: Config, key: str) -> MLflowStore:
    """Open the MLflow store of ``config``'s run dir (see the module docstring) and its experiment.

    A store that cannot be opened (unwritable directory, a path under a file, not a database)
    raises a one-line ``ValueError`` naming it, ``key`` (the ``report_to`` setting) and the fixes;
    a database file created by the failed attempt is removed.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from sqlalchemy.exc import SQLAlchemyError

    path = RunLayout(config.run_path).mlflow_store
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{path.resolve()}"
    local = Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None
    existed = local is not None and local.exists()
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or config.name
    try:
        client = MlflowClient(uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    except (OSError, MlflowException, SQLAlchemyError) as exc:
        if local is not None and not existed and local.is_file():
            local.unlink()
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"{key}: the MLflow store {uri} cannot be opened ({reason}); make its directory writable, "
            f"set MLFLOW_TRACKING_URI to a writable store (e.g. sqlite:////tmp/mlflow.db), or set {key}=none"
        ) from exc
    return MLflowStore(uri, experiment_id, client)


def mlflow_logger(config: Config, stage: str, run: str | None = None) -> MLflowLogger | None:
    """The :class:`~teacherforge.trainers.tracking_callback.MLflowLogger` of ``stage`` (``sft`` or
    ``grpo``) when its ``report_to`` names MLflow, on the main process; opens the store now
    (:func:`open_store`), before any training. The MLflow run is ``<name>-<run>`` (``run``
    defaults to ``stage``; the GRPO warm start logs as ``grpo_warm_start``)."""
    from accelerate import PartialState

    from teacherforge.trainers.tracking_callback import MLflowLogger

    section = getattr(config, stage)
    if "mlflow" not in trackers(section.report_to) or not PartialState().is_main_process:
        return None
    store = open_store(config, f"{stage}.report_to")
    return MLflowLogger(store, f"{config.name}-{run or stage}", _flat(dataclasses.asdict(section), stage))


@contextlib.contextmanager
def ending_runs(tracker: MLflowLogger | None) -> Iterator[None]:
    """Train with ``tracker`` in the block: when it raises, the tracker's open MLflow run ends
    ``FAILED`` (``KILLED`` on Ctrl-C) instead of staying ``RUNNING``."""
    try:
        yield
    except BaseException as exc:
        if tracker is not None:
            tracker.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise


def eval_store(config: Config) -> MLflowStore | None:
    """The store :func:`log_evaluation` writes to, opened now (:func:`open_store`), when
    ``sft.report_to`` or ``grpo.report_to`` names MLflow; else ``None``."""
    keys = [f"{s}.report_to" for s in ("sft", "grpo") if "mlflow" in trackers(getattr(config, s).report_to)]
    return open_store(config, keys[0]) if keys else None


def log_evaluation(store: MLflowStore, name: str, result: Mapping[str, Any]) -> str:
    """Log an evaluation ``result`` (what ``report/metrics.json`` holds) as the MLflow run
    ``<name>-eval``; return its id.

    Metrics are ``<mode>/<model>/<metric>`` at step 0: ``f1`` and ``exact_match`` with
    ``_low``/``_high`` (the 95% interval), ``grounded`` and ``retrieval_hit_rate``.
    """
    run_id = store.start_run(f"{name}-eval", {"split": result.get("split", "?")})
    values: dict[str, float] = {}
    for mode, models in result["metrics"].items():
        for label, m in models.items():
            for metric in ("f1", "exact_match"):
                for part, suffix in (("mean", ""), ("low", "_low"), ("high", "_high")):
                    values[f"{mode}/{label}/{metric}{suffix}"] = m[metric][part]
            values[f"{mode}/{label}/grounded"] = m.get("grounded", 0.0)
            values[f"{mode}/{label}/retrieval_hit_rate"] = m["retrieval_hit_rate"]
    store.log_metrics(run_id, values, step=0)
    store.client.set_terminated(run_id)
    return run_id


def _flat(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"<prefix>.a.b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}.{k}"))
        else:
            out[f"{prefix}.{k}"] = v
    return out
