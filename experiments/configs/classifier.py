"""The domain classifier (2-conv CNN, ±2 px shifts) whose features dFID & co. use.

experiments.evaluate trains it once per dataset into a cache (see
genlab.metrics.feature_net); this config trains the same network as a normal run.

  python -m experiments.main --config=experiments/configs/classifier.py --workdir=runs/classifier
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, fields = presets.parse_arg(arg, set(), {"steps": presets.FEATURE_NET_STEPS})
  return presets.finalize(presets.classifier(fields["steps"]), variants)
