"""trigcomp.cluster: the Dask client every fanning-out verb uses."""

import gc
import logging
import subprocess
import sys
import threading

import pytest

from trigcomp.cluster import dask_client
from trigcomp.dask_plugins import FastWorkerExit, ThreadLockedProgressBars
from trigcomp.errors import UserError


def _plugins(dask_worker):
    return sorted(dask_worker.plugins)


def test_the_fast_exit_plugin_freezes_the_garbage_collector():
    assert gc.get_freeze_count() == 0
    try:
        FastWorkerExit().teardown(worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_thread_cluster_leaves_this_process_collectable():
    """Thread workers share the client's process, which goes on after them: nothing may freeze it."""
    with dask_client(1, processes=False) as client:
        assert FastWorkerExit.name not in next(iter(client.run(_plugins).values()))
    assert gc.get_freeze_count() == 0


def test_progress_bars_in_a_worker_take_a_thread_lock(monkeypatch):
    from tqdm import tqdm

    monkeypatch.setattr(tqdm, "_lock", None, raising=False)  # restored (or removed) after the test
    ThreadLockedProgressBars().setup(worker=None)
    assert isinstance(tqdm.get_lock(), type(threading.RLock()))


@pytest.mark.slow
def test_local_worker_processes_get_the_fast_exit_and_thread_lock_plugins():
    with dask_client(1) as client:
        assert {FastWorkerExit.name, ThreadLockedProgressBars.name} <= set(next(iter(client.run(_plugins).values())))


def test_a_cluster_that_times_out_closing_is_one_warning_not_an_error(cluster_close_times_out, caplog):
    with caplog.at_level(logging.DEBUG, logger="trigcomp"), dask_client(1, processes=False) as client:
        assert client.submit(sum, [1, 2]).result() == 3
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.getMessage() == (
        "the Dask local cluster did not shut down cleanly (TimeoutError: timed out after 5 s.); the results are complete"
    )
    assert any(r.levelno == logging.DEBUG and r.exc_info for r in caplog.records)  # the traceback, with -v only


def test_a_close_that_times_out_never_hides_the_error_the_work_raised(cluster_close_times_out, caplog):
    with pytest.raises(UserError, match="the verb's own error"), dask_client(1, processes=False):
        raise UserError("the verb's own error")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# Run as a script: the real failure, where a worker process is not joined in time, and the real process exit
CLOSE_TIMES_OUT = """
import asyncio, logging
import distributed.process
from trigcomp.cluster import dask_client

async def join_times_out(self, timeout=None):
    raise asyncio.TimeoutError()

def task_with_a_progress_bar():  # as training has
    from tqdm.auto import tqdm
    with tqdm(total=1, disable=True) as bar:
        bar.update()
    return 3

if __name__ == "__main__":
    logging.basicConfig(format="trigcomp: %(message)s")
    with dask_client(1) as client:
        print(client.submit(task_with_a_progress_bar).result())
        distributed.process.AsyncProcess.join = join_times_out  # the nanny's wait for its worker process
"""


@pytest.mark.slow
def test_a_worker_process_not_joined_in_time_is_one_line_and_exit_0(tmp_path):
    """The one line is all of stderr: no "leaked semaphore" warning either (the worker's tqdm lock is a thread
    lock), although the worker process was not seen to exit."""
    script = tmp_path / "close_times_out.py"
    script.write_text(CLOSE_TIMES_OUT)
    completed = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=300)
    assert (completed.returncode, completed.stdout) == (0, "3\n"), completed.stderr[-2000:]
    assert completed.stderr == (
        "trigcomp: the Dask local cluster did not shut down cleanly (TimeoutError); the results are complete\n"
    )
