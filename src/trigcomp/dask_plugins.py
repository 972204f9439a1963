"""Plugins for the Dask workers trigcomp starts itself (a LocalCluster); imported only once distributed is."""

from __future__ import annotations

import gc
import threading

from distributed import WorkerPlugin


class FastWorkerExit(WorkerPlugin):
    """When a worker closes, freeze its objects out of the garbage collector.

    A process that trained with TensorFlow spends seconds in the interpreter's last collection at exit (walking
    TensorFlow's objects; 0.2 s when they are frozen), and a LocalCluster's nanny waits 4 s for it before killing
    the process, so every scan on local workers paid about 4 s at its end. Nothing runs in the worker afterwards.
    """

    name = "trigcomp-fast-exit"
    idempotent = True

    def teardown(self, worker) -> None:
        gc.freeze()


class ThreadLockedProgressBars(WorkerPlugin):
    """Give tqdm a thread lock in the worker process instead of its default multiprocessing one.

    tqdm's default lock (made with a task's first progress bar, e.g. training's) is a named semaphore registered
    with multiprocessing's resource tracker, which worker processes share with the client. A worker ended by a
    signal (its nanny kills it when it is slow to close under heavy load; the client's exit terminates one whose
    close failed) never unregisters it, and the tracker then prints "leaked semaphore objects" on the user's
    terminal. A worker's bars are its own: a thread lock is all they need.
    """

    name = "trigcomp-thread-locked-bars"
    idempotent = True

    def setup(self, worker) -> None:
        from tqdm import tqdm

        tqdm.set_lock(threading.RLock())
