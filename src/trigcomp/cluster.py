"""One way to get a Dask client for every verb that fans out (``compress`` over files, ``scan`` over points).

``--workers N`` starts a LocalCluster of N single-threaded worker processes on this machine; ``--scheduler
tcp://HOST:PORT`` connects to an existing cluster instead (its workers must see the same files). Needs the
``dask``/``distributed`` packages (the ``storage`` or ``scan`` extra).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial

from .errors import UserError

log = logging.getLogger("trigcomp")

#: Local worker processes when a verb fans out and neither --workers nor --scheduler is given.
DEFAULT_WORKERS = 2


def one_line(err: BaseException) -> str:
    """An exception as one line (its type and the first line of its message), for a result or an error message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _enter_closing_quietly(stack: ExitStack, resource, what: str):
    """Enter ``resource`` (a distributed Client or LocalCluster) on ``stack``; failing to close it is a warning.

    The close comes after the verb's work: under heavy load distributed's close can time out (a worker process
    killed by its nanny not joined within 5 s; a client's close after twice its connect timeout) and raise
    ``TimeoutError`` although every result has been gathered. That must neither cost the results nor print a
    traceback; nor may it replace an error the verb itself raised.
    """
    entered = resource.__enter__()
    stack.push(partial(_exit_quietly, resource, what))
    return entered


def _exit_quietly(resource, what: str, *exc_details) -> bool:
    try:
        resource.__exit__(*exc_details)
    except Exception as err:  # any failure to shut down: the work it ran is done
        if exc_details[0] is None:  # with an error already on its way, that error is the one line
            log.warning("the Dask %s did not shut down cleanly (%s); the results are complete", what, one_line(err))
        log.debug("closing the Dask %s", what, exc_info=True)
    return False  # never swallows the verb's own exception


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, processes: bool = True) -> Iterator:
    """A ``distributed.Client``: connected to ``scheduler``, or to a new LocalCluster of ``workers`` processes
    (one thread each: the tasks are CPU-bound numpy/TensorFlow work), closed on exit (a failure to close is a
    warning on stderr, not an error)."""
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
                client = _enter_closing_quietly(stack, Client(scheduler, timeout="30s"), "client")
            except (OSError, TimeoutError) as err:
                raise UserError(f"cannot reach the Dask scheduler {scheduler}: {one_line(err)}") from None
        else:
            cluster = _enter_closing_quietly(
                stack,
                LocalCluster(
                    n_workers=workers or DEFAULT_WORKERS,
                    threads_per_worker=1,
                    processes=processes,
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL,
                ),
                "local cluster",
            )
            client = _enter_closing_quietly(stack, Client(cluster), "client")
            if processes:  # a thread cluster's workers share this process, which goes on after them
                from .dask_plugins import FastWorkerExit, ThreadLockedProgressBars

                client.register_plugin(FastWorkerExit())
                client.register_plugin(ThreadLockedProgressBars())
        yield client
