"""Imported once by the workers' fork server, so that every worker starts with the
engine loaded and its lazily loaded parts (NumPy, the checker, the code generators,
the parser's tables) warm.  Each worker does one request at a time, so the numeric
libraries get one thread each."""
import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from .engine import warm_up  # noqa: E402

warm_up()
