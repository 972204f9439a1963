"""Writing outputs: nothing half-written, nothing overwritten without ``--force``, an interrupt leaves nothing.

Every verb that writes a directory or a file stages it beside its destination (a hidden temporary name in the
same directory, so the final rename stays on one file system) and renames it into place only when all of it is
written. Any exception, Ctrl-C included, removes the staged copy and leaves the destination as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import UserError


def write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _os_error(what: str, path: Path, err: OSError) -> UserError:
    return UserError(f"cannot {what} {path}: {err.strerror or err}")


def check_output(out: str | Path, force: bool, directory: bool = True) -> Path:
    """Refuse an output path before any work is spent on it: exists without --force, or is the wrong kind.

    ``--force`` replaces an earlier output of the same kind, never a symlink (its target is not ours to
    replace) and never a file where a directory belongs or the other way round.
    """
    out = Path(out)
    kind = "directory" if directory else "file"
    if out.is_symlink():
        raise UserError(f"refusing to write {out}: it is a symbolic link; give the real path")
    if out.exists():
        if not force:
            raise UserError(f"{out} already exists; pass --force to overwrite it")
        if out.is_dir() != directory:
            raise UserError(
                f"refusing to replace {out} with a {kind}: it is a {'directory' if out.is_dir() else 'file'}"
            )
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"cannot write {out}: {parent} is not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):  # e.g. a read-only mount: say so before any work is done
                raise UserError(f"cannot write {out}: {parent} is not writable")
            break
    return out


def _staging_parent(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _os_error("create the directory", out.parent, err) from None
    return out.parent


def _commit(staged: Path, out: Path) -> None:
    """Move ``staged`` to ``out``; an earlier ``out`` is first moved aside, so ``out`` is never half-replaced."""
    aside = None
    if out.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, aside / out.name)
    os.replace(staged, out)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _discard(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def _staged(out: Path, staged: Path) -> Iterator[Path]:
    try:
        yield staged
        if _interrupted:  # a Ctrl-C that something swallowed still means: do not put this output in place
            raise KeyboardInterrupt
        try:
            _commit(staged, out)
        except OSError as err:
            raise _os_error("write", out, err) from None
    except BaseException:
        _discard(staged)
        raise


@contextmanager
def staged_dir(out: str | Path, force: bool) -> Iterator[Path]:
    """``with staged_dir(out, force) as tmp:`` write everything into ``tmp``; it becomes ``out`` at the end."""
    out = check_output(out, force, directory=True)
    parent = _staging_parent(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as err:
        raise _os_error("write to", parent, err) from None
    tmp.chmod(0o755)  # mkdtemp makes it private; an output directory is as readable as any other
    with _staged(out, tmp) as staged:
        yield staged


@contextmanager
def staged_file(out: str | Path, force: bool) -> Iterator[Path]:
    """``with staged_file(out, force) as tmp:`` write the file ``tmp``; it is renamed to ``out`` at the end."""
    out = check_output(out, force, directory=False)
    parent = _staging_parent(out)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise _os_error("write to", parent, err) from None
    os.close(handle)
    os.chmod(name, 0o644)
    with _staged(out, Path(name)) as staged:
        yield staged


# ---------------------------------------------------------------------------------------------------------------
# Interrupts
# ---------------------------------------------------------------------------------------------------------------

_interrupted = False


def _on_interrupt(signum, frame) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _unraisable_hook(previous):
    """Python cannot raise the KeyboardInterrupt when Ctrl-C lands in a finalizer or a weakref callback (as
    happened during hls4ml's conversion): it prints "Exception ignored" and carries on. The flag already stops the
    run at the next commit or at exit, so that report is not shown; anything else goes to the previous hook."""

    def hook(unraisable) -> None:
        if not (_interrupted and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous(unraisable)

    return hook


@contextmanager
def catching_interrupts() -> Iterator[None]:
    """Within: Ctrl-C goes through ``_on_interrupt``, so that no interrupt is lost (see ``interrupted``)."""
    global _interrupted
    _interrupted = False
    try:
        previous = signal.signal(signal.SIGINT, _on_interrupt)
    except ValueError:  # not the main thread: signals are not ours to route
        previous = None
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable_hook(previous_hook)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
        _interrupted = False


def interrupted() -> bool:
    """True once Ctrl-C was pressed, even if the KeyboardInterrupt it raised was swallowed somewhere."""
    return _interrupted
