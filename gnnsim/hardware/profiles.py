"""Hardware as data: devices, links, nodes and clusters read from ``hwprofiles/*.yaml``.

The profile catalog in four parts, each with its own module, all named here:

- :mod:`gnnsim.hardware.schema`: the keys each kind of profile may hold, where the
  catalog is (``GNNSIM_HWPROFILES``), reading and checking a file;
- :mod:`gnnsim.hardware.sources`: every profile's ``sources:``, so that each number can
  be traced to a datasheet or a measurement;
- :mod:`gnnsim.hardware.cluster`: the values (:class:`Device`, :class:`Link`,
  :class:`Node`, :class:`Cluster` and their cost parameters);
- :mod:`gnnsim.hardware.loaders`: the files read into those values, a calibrated
  profile's measured blocks standing in for a node's nominal numbers;
- :mod:`gnnsim.hardware.host_effects`: what a shared-vCPU host adds (gloo's stalls and
  wake-up, the OS's time slice, the warm-up after idling), where a profile carries it.
"""

from gnnsim.hardware.cluster import Cluster, Collective, Device, KernelRate, Link, Node, Oversubscribed, SamplerCost
from gnnsim.hardware.host_effects import HostEffects, Stalls, Warmup, warmup_from
from gnnsim.hardware.loaders import (HOST_GATHER_FLOPS_PER_S, device_from_mapping, load_cluster, load_device,
                                     load_link, load_node)
from gnnsim.hardware.schema import (ALLOWED_KEYS, DESCRIPTIVE_KEYS, DTYPES, KERNEL_CLASSES,
                                    LINK_KINDS, OPTIONAL_KERNEL_CLASSES, PROFILE_KINDS, allow_keys, check_finite,
                                    check_keys, list_profiles, profile_path, profile_root, read_profile)
from gnnsim.hardware.sources import (SOURCE_BASES, SOURCE_CONFIDENCE, SOURCE_KEYS, Source,
                                     numeric_paths, parse_sources)

__all__ = ["ALLOWED_KEYS", "Cluster", "Collective", "DESCRIPTIVE_KEYS", "DTYPES", "Device", "HOST_GATHER_FLOPS_PER_S",
           "HostEffects", "KERNEL_CLASSES", "KernelRate", "LINK_KINDS", "Link", "Node", "OPTIONAL_KERNEL_CLASSES", "Oversubscribed",
           "PROFILE_KINDS", "SOURCE_BASES", "SOURCE_CONFIDENCE", "SOURCE_KEYS", "SamplerCost", "Source", "Stalls",
           "Warmup",
           "allow_keys", "check_finite", "check_keys", "device_from_mapping", "list_profiles", "load_cluster",
           "load_device", "load_link", "load_node", "numeric_paths", "parse_sources", "profile_path", "profile_root",
           "read_profile", "warmup_from"]
