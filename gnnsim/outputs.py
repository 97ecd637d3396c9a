"""Write output files whole or not at all (a bad run never leaves half a file).

Every command, the calibration and the validation harness write through here: a
temporary file beside the target, renamed into place once it is complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gnnsim.errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_path(path: str | Path, option: str = "output") -> None:
    """Raise :class:`OutputError` unless a file can be written at ``path``: its folder
    exists and is writable, and ``path`` is not a folder (as other tools, gnnsim creates
    no folders for an output file). The commands call it before any work starts.

    >>> check_output_path("/no/such/folder/out.json", "--json")
    Traceback (most recent call last):
    ...
    gnnsim.errors.OutputError: --json /no/such/folder/out.json: the folder /no/such/folder does not exist; create it first or give another path
    """
    p = Path(path)
    where = f"{option} {path}" if option else str(path)
    if not str(path) or str(path).endswith(os.sep) or p.is_dir():
        raise OutputError(f"{where}: is a folder; give a file name in it, e.g. {p / 'out'}")
    parent = p.parent
    if not parent.exists():
        raise OutputError(f"{where}: the folder {parent} does not exist; create it first or give another path")
    if not parent.is_dir():
        raise OutputError(f"{where}: {parent} is a file, not a folder; give another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: cannot write in the folder {parent} (permission denied); give another path")
    if p.exists() and not os.access(p, os.W_OK) and not os.access(parent, os.W_OK):
        raise OutputError(f"{where}: the file exists and cannot be replaced (permission denied)")


def write_atomic_with(path: str | Path, write, binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place,
    so ``path`` is either the whole new file or untouched. A path that cannot be written
    raises :class:`OutputError` (after the same checks as :func:`check_output_path`)."""
    path = Path(path)
    if path.is_dir():
        check_output_path(path, "")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # API callers (the validation harness) write into new folders
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the file: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give it a normal file's mode
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write the file: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    write_atomic_with(path, lambda fh: fh.write(text))
