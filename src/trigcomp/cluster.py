"""One way to get a Dask client for every verb that fans out (``compress`` over files, ``scan`` over points).

``--workers N`` starts a LocalCluster of N single-threaded worker processes on this machine; ``--scheduler
tcp://HOST:PORT`` connects to an existing cluster instead (its workers must see the same files). Needs the
``dask``/``distributed`` packages (the ``storage`` or ``scan`` extra).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from .errors import UserError

#: Local worker processes when a verb fans out and neither --workers nor --scheduler is given.
DEFAULT_WORKERS = 2


def one_line(err: BaseException) -> str:
    """An exception as one line (its type and the first line of its message), for a result or an error message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, processes: bool = True) -> Iterator:
    """A ``distributed.Client``: connected to ``scheduler``, or to a new LocalCluster of ``workers`` processes
    (one thread each: the tasks are CPU-bound numpy/TensorFlow work), closed on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("running on Dask needs the dask and distributed packages: pip install 'trigcomp[storage]'")
    if scheduler is None and workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # worker start/stop chatter is not for users
    with ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="30s"))
            except (OSError, TimeoutError) as err:
                raise UserError(f"cannot reach the Dask scheduler {scheduler}: {one_line(err)}") from None
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers or DEFAULT_WORKERS,
                    threads_per_worker=1,
                    processes=processes,
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL,
                )
            )
            client = stack.enter_context(Client(cluster))
            if processes:  # a thread cluster's workers share this process, which goes on after them
                from .dask_plugins import FastWorkerExit

                client.register_plugin(FastWorkerExit())
        yield client
