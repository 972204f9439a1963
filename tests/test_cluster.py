"""trigcomp.cluster: the Dask client every fanning-out verb uses."""

import gc

import pytest

from trigcomp.cluster import dask_client
from trigcomp.dask_plugins import FastWorkerExit


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


@pytest.mark.slow
def test_local_worker_processes_get_the_fast_exit_plugin():
    with dask_client(1) as client:
        assert FastWorkerExit.name in next(iter(client.run(_plugins).values()))
