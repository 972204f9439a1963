"""The typed lists da4ml's CMVM solver takes, built by a cached numba function.

Built from Python (``numba.typed.List([...])``) they make numba compile its list methods anew in every process,
about 1 s of CPU on each scan worker's first point; compiled here once, they load from numba's cache.
"""

from __future__ import annotations

import numpy as np
from da4ml.cmvm.types import QInterval
from numba import njit
from numba.typed import List


@njit(cache=True)
def _typed_lists(low, high, step, latency):
    qintervals = List()
    latencies = List()
    for i in range(low.size):
        qintervals.append(QInterval(low[i], high[i], step[i]))
        latencies.append(latency[i])
    return qintervals, latencies


def solver_inputs(variables) -> tuple:
    """(qintervals, latencies) of da4ml traced variables: one ``QInterval(low, high, step)`` and one latency each,
    as float64, in ``numba.typed.List``s (the types jit_solve's cached signature has)."""
    columns = np.array([[v.low, v.high, v.step, v.latency] for v in variables], dtype=np.float64).reshape(-1, 4)
    return _typed_lists(*(np.ascontiguousarray(column) for column in columns.T))
