"""The verifiers plugin ``teacherforge_search``: verifiers and prime-rl import environments by a
top-level module name, so this module names :mod:`teacherforge.envs.verifiers_env` for them
(``vf-eval teacherforge_search --env.taskset.run-dir RUN``)."""

from teacherforge.envs.verifiers_env import *  # noqa: F403
from teacherforge.envs.verifiers_env import __all__  # noqa: F401
