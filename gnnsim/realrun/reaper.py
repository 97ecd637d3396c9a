"""Kill a run's process groups and remove its folder once the launcher is gone.

Started by :func:`gnnsim.realrun.procs.start_reaper` as ``python -I reaper.py LAUNCHER_PID
FOLDER PID...`` in its own session. It polls its parent; when the launcher exits without
killing it first (``kill -9``, a crash), it SIGKILLs the process group of every PID and
removes FOLDER. Standard library only, so it starts fast and imports nothing of gnnsim.
"""

import os
import shutil
import signal
import sys
import time


def main() -> int:
    launcher, folder, pids = int(sys.argv[1]), sys.argv[2], [int(p) for p in sys.argv[3:]]
    while os.getppid() == launcher:
        time.sleep(0.2)
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if folder:
        time.sleep(0.2)  # let the killed ranks' last writes land before the folder goes
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
