"""`Experiment.abstract_state`: what a restore reads checkpoints against, without compiling.

Every resume, `evaluate` and `sample` restores against it; before it they compiled and
ran the init program only to read its shapes (SAGAN's smoke `evaluate` 30 → 19 s here).
That restores stay exact is checked by the resume tests (tests/test_train.py,
tests/test_progan_game.py, tests/test_cycle_game.py) and tests/test_checkpoint_integrity.py.
"""

import jax
import pytest
from jax import monitoring

from conftest import load_config
from genlab import experiment


def _same_layout(abstract, concrete):
  assert jax.tree.structure(abstract) == jax.tree.structure(concrete)
  for a, c in zip(jax.tree.leaves(abstract), jax.tree.leaves(concrete)):
    assert isinstance(a, jax.ShapeDtypeStruct)
    assert (a.shape, a.dtype) == (c.shape, c.dtype)
    assert a.sharding.is_equivalent_to(c.sharding, c.ndim)


@pytest.mark.parametrize("name, arg, stage", [("gan", "smoke", None), ("vae", "smoke", None),
                                              ("progan", "smoke", 1)])
def test_abstract_state_is_the_init_states_layout(name, arg, stage):
  exp = experiment.build(load_config(name, arg))
  _same_layout(exp.abstract_state(stage), exp.init_state(stage))


def test_abstract_state_compiles_nothing():
  exp = experiment.build(load_config("gan", "smoke"))
  exp.rngs()  # the seed's keys are concrete draws, compiled once per process anyway
  events = []
  listener = lambda name, secs, **kwargs: events.append(name)
  monitoring.register_event_duration_secs_listener(listener)
  try:
    exp.abstract_state()
    traced_only = list(events)
    exp.init_state()
  finally:
    monitoring.unregister_event_duration_listener(listener)
  compiles = lambda names: [n for n in names if n.endswith("backend_compile_duration")
                            or "compilation_cache" in n]
  assert not compiles(traced_only) and any("trace" in n for n in traced_only)
  # The listener does see the init's compile (or its cache read): the check can fail.
  assert compiles(events[len(traced_only):])
