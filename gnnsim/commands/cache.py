"""gnnsim cache info|clear: the on-disk cache of built graphs, partitions and sampled batches' counts."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  gnnsim cache info                 where the cache is, what it holds and how big it is
  gnnsim cache clear                remove every entry
  gnnsim cache clear --kind graph   remove only built graphs (partition entries name their graph)
  gnnsim cache clear --kind batches remove only the sampled batches' counts

The folder is $GNNSIM_CACHE (default ~/.cache/gnnsim); GNNSIM_CACHE=off turns the cache off.
An entry that fails its size or checksum check is rebuilt with a notice, never used."""


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def cmd_cache(args: argparse.Namespace) -> int:
    from gnnsim.cache.store import CACHE_ENV, cache_root, clear, entries

    root = cache_root()
    if root is None:
        print(f"the cache is off ({CACHE_ENV} is set to turn it off)")
        return 0
    if args.action == "clear":
        removed = clear(root, args.kind)
        print(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {root}")
        return 0
    found = entries(root)
    total = sum(e["size_bytes"] for e in found)
    print(f"cache: {root} ({len(found)} entries, {_size(total)})")
    for e in found:
        print(f"  {e['kind']:<9} {_size(e['size_bytes']):>9}  {e['created']}  {e['what']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show or clear the cache of built graphs, partitions and batch counts",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["info", "clear"], help="info: list the entries; clear: remove them")
    p.add_argument("--kind", choices=["graph", "partition", "batches"], help="clear only this kind of entry")
    p.set_defaults(func=cmd_cache)
