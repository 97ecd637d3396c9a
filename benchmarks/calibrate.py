"""How long `gnnsim calibrate --device cpu` takes, quick and full, and how well it fits.

    python benchmarks/calibrate.py

Prints wall time per mode (targets: --quick under 60 s, full under 5 minutes on a
2-core machine) and, per kernel class, the fit error and the error on held-out shapes.
Run it on a quiet machine: the calibration times real kernels.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from gnnsim.calibrate.run import calibrate


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for quick in (True, False):
            start = time.perf_counter()
            profile = calibrate(device="cpu", out=Path(tmp) / "bench.yaml", quick=quick, progress=lambda *a, **k: None)
            wall = time.perf_counter() - start
            print(f"calibrate --device cpu{' --quick' if quick else ''}: {wall:6.1f} s wall")
            for cls, r in profile["residuals"].items():
                cv = f"   5-fold {r['kfold_mape']:6.1%}" if "kfold_mape" in r else ""
                print(f"    {cls:<12} fit {r['fit_mape']:6.1%}   held-out {r['holdout_mape']:6.1%}{cv}   ({r['samples']} samples)")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
