"""An on-disk cache of built graphs, partitions and batch counts: build once, predict many times.

An entry is a folder of ``.npy`` arrays plus ``manifest.json``, which records the spec
that decided the arrays (source or preset, scale, seed, generator version; method,
parts, options; for batch counts, see :mod:`gnnsim.workload.batches`), each file's size
and SHA-256, and small metadata. The folder name is a hash of the spec, so a changed
spec is a different entry. Reading an entry checks the spec, every file's size and
checksum; an entry that fails any check is corrupt or stale: it is removed, a one-line
notice goes to stderr, and the caller rebuilds. A cached result is never trusted
without those checks.

The cache lives in ``$GNNSIM_CACHE`` (default ``~/.cache/gnnsim``); ``GNNSIM_CACHE=off``
turns it off. Entries are written to a temporary folder and renamed into place, so a
crash or a concurrent writer never leaves half an entry. ``gnnsim cache info|clear``
shows and empties it. :func:`save_in_background` writes a large entry on a thread while
the caller goes on (checksums and file writes release the GIL, as METIS's C call does);
reading that entry, listing or clearing the cache waits for it first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gnnsim.graph.forked import pid_running

CACHE_ENV = "GNNSIM_CACHE"
FORMAT_VERSION = 1  # bump when the entry layout changes
OFF = ("off", "0", "none", "false", "")
MANIFEST = "manifest.json"


def cache_root() -> Path | None:
    """The cache folder, or None when ``GNNSIM_CACHE`` turns the cache off."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return Path.home() / ".cache" / "gnnsim"
    if value.strip().lower() in OFF:
        return None
    return Path(value).expanduser()


def spec_key(kind: str, spec: dict[str, Any]) -> str:
    """A stable name for ``spec``: the hash of its canonical JSON."""
    text = json.dumps({"kind": kind, "format": FORMAT_VERSION, **spec}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()


def _notice(message: str) -> None:
    print(f"gnnsim: cache: {message}", file=sys.stderr)


def entry_path(kind: str, spec: dict[str, Any]) -> Path | None:
    root = cache_root()
    return None if root is None else root / kind / spec_key(kind, spec)


def save(kind: str, spec: dict[str, Any], arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path | None:
    """Write an entry; return its folder (None when the cache is off or not writable)."""
    final = entry_path(kind, spec)
    if final is None:
        return None
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, array in arrays.items():
            array = np.ascontiguousarray(array)
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
            files[name] = {"size": (tmp / f"{name}.npy").stat().st_size, "sha256": _digest(array),
                           "dtype": str(array.dtype), "shape": list(array.shape)}
        manifest = {"kind": kind, "format": FORMAT_VERSION, "spec": spec, "meta": meta, "files": files,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return final
    except OSError as exc:
        _notice(f"could not write {final} ({exc.strerror or exc}); going on without caching it")
        shutil.rmtree(tmp, ignore_errors=True)
        return None


_writing: dict[Path, threading.Thread] = {}  # entries being saved in the background


def save_in_background(kind: str, spec: dict[str, Any], arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """:func:`save` on a thread; the process still waits for it before it exits (not a daemon)."""
    final = entry_path(kind, spec)
    if final is None:
        return
    wait_for_saves(final)
    thread = threading.Thread(target=save, args=(kind, spec, arrays, meta), name=f"gnnsim cache: {final.name}")
    _writing[final] = thread
    thread.start()


def wait_for_saves(path: Path | None = None) -> None:
    """Wait until the background save of the entry at ``path`` (of every entry: None) is done."""
    for entry, thread in list(_writing.items()):
        if path is None or entry == path:
            thread.join()
            _writing.pop(entry, None)


def load(kind: str, spec: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The entry's arrays and metadata, or None (absent; or corrupt or stale: removed, with a notice)."""
    path = entry_path(kind, spec)
    if path is not None:
        wait_for_saves(path)
    if path is None or not (path / MANIFEST).is_file():
        return None
    problem = None
    arrays: dict[str, np.ndarray] = {}
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        if manifest.get("format") != FORMAT_VERSION or manifest.get("spec") != json.loads(
                json.dumps(spec, default=str)):
            problem = "its manifest is for another spec or format (stale)"
        for name, info in manifest.get("files", {}).items() if problem is None else ():
            file = path / f"{name}.npy"
            if not file.is_file() or file.stat().st_size != info["size"]:
                problem = f"{name}.npy is missing or has the wrong size"
                break
            array = np.load(file, allow_pickle=False)
            if _digest(array) != info["sha256"]:
                problem = f"{name}.npy fails its checksum"
                break
            arrays[name] = array
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem = f"it cannot be read ({exc})"
    if problem is not None:
        _notice(f"entry {path} is corrupt or stale: {problem}; rebuilding it")
        shutil.rmtree(path, ignore_errors=True)
        return None
    return arrays, manifest.get("meta", {})


def entries(root: Path | None = None) -> list[dict[str, Any]]:
    """Every entry: kind, folder, size in bytes, creation time and a one-line description."""
    wait_for_saves()
    root = root if root is not None else cache_root()
    if root is None or not root.is_dir():
        return []
    found = []
    for manifest in sorted(root.glob(f"*/*/{MANIFEST}")):
        folder = manifest.parent
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            data = {}
        found.append({"kind": folder.parent.name, "path": str(folder), "size_bytes": _folder_bytes(folder),
                      "created": data.get("created", "?"), "what": data.get("meta", {}).get("describe", "")})
    for folder in sorted(root.glob("*/.tmp-*")):  # a save its process never finished (killed): never read
        pid = folder.name.rsplit("-", 1)[-1]
        if folder.is_dir() and not (pid.isdigit() and pid_running(int(pid))):
            found.append({"kind": folder.parent.name, "path": str(folder), "size_bytes": _folder_bytes(folder),
                          "created": "?",
                          "what": "unfinished: its run stopped while writing it (gnnsim cache clear removes it)"})
    return found


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def clear(root: Path | None = None, kind: str | None = None) -> int:
    """Remove every entry (of ``kind``, when given); return how many folders were removed."""
    wait_for_saves()
    root = root if root is not None else cache_root()
    if root is None or not root.is_dir():
        return 0
    kinds = [root / kind] if kind else [p for p in root.iterdir() if p.is_dir()]
    removed = 0
    for folder in kinds:
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
    return removed
