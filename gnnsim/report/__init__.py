"""Reports: text tables and machine-readable outputs."""

from gnnsim.report.table import result_table

__all__ = ["result_table"]
