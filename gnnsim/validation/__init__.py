"""Measured runs and their comparison with simulations."""
