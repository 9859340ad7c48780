"""Per-family evaluators, sample drawing, figures and reports of a trained workdir.

This package holds the pieces; `genlab.evaluate.evaluate(workdir)` runs them.
"""
