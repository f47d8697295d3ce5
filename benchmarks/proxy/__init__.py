"""The proxy-fidelity benchmark's parts: candidates, cached runs, rank statistics."""
