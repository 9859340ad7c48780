"""The one sampler of what a generator takes: a latent from the prior, and a condition.

Training, evaluation, `experiments.sample` and the sample grids all draw G's inputs
here, so a change of prior happens in one place.

Prior (`sampler.prior`):
  normal        z ~ N(0, I) of `model.latent_size`;
  truncated     the same (the name says that `sampler.truncation` is meant to be set);
  hierarchical  z split into `sampler.chunks` equal parts, one per generator block
                (BigGAN's hierarchical latent), returned as a tuple.
Truncation (BigGAN's trick: fidelity for variety), for every prior: at sampling time
(evaluation, `sample --truncation`) each coordinate of z is drawn from N(0, 1)
truncated to [−τ, τ], τ = `sampler.truncation`; τ = 0 means none. Training always
draws the untruncated prior.
Condition (`sampler.condition`):
  none          unconditional;
  label         a class label: the batch's labels in training; at sampling time a
                requested class, or every class in turn (balanced, so class statistics
                of samples compare across runs);
  image         an input image (Pix2Pix): the batch's `source` field.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from genlab.errors import UserError

PRIORS = ("normal", "truncated", "hierarchical")
CONDITIONS = ("none", "label", "image")


@dataclasses.dataclass(frozen=True)
class Sampler:
  """Draws G's latents and conditions.

  Attributes:
    latent_size: dimensions of z.
    prior: one of PRIORS.
    truncation: τ of the truncated prior at sampling time (0: none).
    chunks: parts of a hierarchical z.
    condition: one of CONDITIONS.
    num_classes: classes of a label condition.
  """

  latent_size: int
  prior: str = "normal"
  truncation: float = 0.0
  chunks: int = 1
  condition: str = "none"
  num_classes: int = 0

  def __post_init__(self):
    if self.prior not in PRIORS:
      raise UserError(f"unknown sampler.prior {self.prior!r}; known: {', '.join(PRIORS)}")
    if self.condition not in CONDITIONS:
      raise UserError(f"unknown sampler.condition {self.condition!r}; "
                      f"known: {', '.join(CONDITIONS)}")
    if self.truncation < 0:
      raise UserError(f"sampler.truncation must be ≥ 0, got {self.truncation}")
    if self.prior == "hierarchical" and (self.chunks < 1 or self.latent_size % self.chunks):
      raise UserError(f"sampler.chunks={self.chunks} must divide model.latent_size="
                      f"{self.latent_size}")
    if self.condition == "label" and self.num_classes < 1:
      raise UserError("sampler.condition='label' needs a labelled dataset")

  def latents(self, rng: jax.Array, num: int, sampling: bool = False):
    """z for `num` draws: [num, latent_size], or a tuple of chunks (hierarchical).

    Args:
      rng: a key.
      num: draws.
      sampling: True at sampling time (evaluation, `sample`), where truncation applies;
        training always draws the untruncated prior.
    """
    shape = (num, self.latent_size)
    if sampling and self.truncation > 0:
      z = jax.random.truncated_normal(rng, -self.truncation, self.truncation, shape)
    else:
      z = jax.random.normal(rng, shape)
    if self.prior == "hierarchical":
      return tuple(jnp.split(z, self.chunks, axis=-1))
    return z

  def labels(self, num: int, label: int | None = None) -> np.ndarray | None:
    """Class labels for `num` draws at sampling time: None when unconditional on labels,
    `label` repeated, or every class in turn."""
    if self.condition != "label":
      if label is not None:
        raise UserError("this model is not conditioned on a class: --label needs a "
                        "conditional model")
      return None
    if label is None:
      return np.arange(num) % self.num_classes
    if not 0 <= label < self.num_classes:
      raise UserError(f"label {label} is not a class of this model "
                      f"(0..{self.num_classes - 1})")
    return np.full(num, label)

  def condition_of(self, batch: dict):
    """The condition G gets for a training or evaluation batch (None, labels or images)."""
    if self.condition == "label":
      return batch["label"]
    if self.condition == "image":
      return batch["source"]
    return None


def from_config(config, info: dict) -> Sampler:
  """The Sampler of an experiment config (`sampler` section, `model.latent_size`).

  A model with `model.conditional = True` is conditioned on labels unless the
  sampler section says otherwise.
  """
  cfg = config.get("sampler") or {}
  condition = cfg.get("condition", "")
  if not condition:
    condition = "label" if config.model.get("conditional", False) else "none"
  return Sampler(latent_size=config.model.latent_size, prior=cfg.get("prior", "normal"),
                 truncation=cfg.get("truncation", 0.0), chunks=cfg.get("chunks", 1),
                 condition=condition,
                 num_classes=info.get("num_classes", 0) if condition == "label" else 0)
