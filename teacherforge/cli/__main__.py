"""``python -m teacherforge.cli``: the same as the ``teacherforge`` command (used by ``accelerate launch``)."""

import sys

from teacherforge.cli import main

sys.exit(main())
