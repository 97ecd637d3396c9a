"""The old name of :mod:`gnnsim.workload.kernels`, kept while ``gnnsim/calibrate``
imports it by that name; new code imports ``kernels``."""

from gnnsim.workload.kernels import *  # noqa: F401,F403
from gnnsim.workload.kernels import Kernel  # noqa: F401 (the name the calibration's fits import)
