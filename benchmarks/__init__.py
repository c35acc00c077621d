"""Benchmarks: one command per figure, each printing its ratio last (`python -m benchmarks.NAME`)."""
