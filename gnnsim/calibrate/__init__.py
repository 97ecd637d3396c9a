"""Calibration: micro-benchmarks and fitting that turn this machine into a profile."""
