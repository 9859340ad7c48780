"""The classification step family: trains the domain feature networks of the metrics.

Cross-entropy with random ±`augment.shift` pixel translations (zero padded), which
took a 2-conv CNN on 4,000 digits from overfitting to ≥ 98 % test accuracy, and,
where a config asks for it (`augment.rotate/scale/shear`), a random affine warp that
makes the net read other writers' digits (CycleGAN's judges of class, across sets).
"""

import jax
import jax.numpy as jnp
import optax

from genlab import nonfinite, optim, state as state_lib
from genlab.steps.base import Hparams, StepFns, update_network, to_unit_float

NETWORK = "classifier"  # the family's one network in the train state
# Optional `augment` fields of random_affine; absent (no warp) in most configs, in the
# cached feature nets' configs and in the workdirs made before the warp existed.
WARP = ("rotate", "scale", "shear")


def random_shift(rng: jax.Array, x: jax.Array, max_shift: int) -> jax.Array:
  """Translates each image of x [B, H, W, C] by its own integer offset in ±max_shift."""
  if max_shift <= 0:
    return x
  b, h, w, _ = x.shape
  padded = jnp.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
  offsets = jax.random.randint(rng, (b, 2), 0, 2 * max_shift + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))

  return jax.vmap(crop)(padded, offsets)


def random_affine(rng: jax.Array, x: jax.Array, rotate: float, scale: float,
                  shear: float) -> jax.Array:
  """Warps each image of x [B, H, W, C] by its own random affine map about its centre.

  Rotation uniform in ±`rotate` degrees, a scale per axis uniform in 1 ± `scale`, a
  horizontal shear uniform in ±`shear`; bilinear, zero outside. These are the ways one
  writer's digits differ from another's (slant, width, size), which ±2 px shifts do
  not cover. All zero returns x itself.
  """
  if not (rotate or scale or shear):
    return x
  b, h, w, _ = x.shape
  r_rot, r_scale, r_shear = jax.random.split(rng, 3)
  theta = jnp.deg2rad(jax.random.uniform(r_rot, (b,), minval=-rotate, maxval=rotate))
  sy, sx = (1 + jax.random.uniform(r_scale, (2, b), minval=-scale, maxval=scale))
  sh = jax.random.uniform(r_shear, (b,), minval=-shear, maxval=shear)
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  # forward (input -> output, in (y, x) about the centre) = rotation @ shear @ scale
  forward = jnp.stack([
      jnp.stack([cos * sy, (cos * sh + sin) * sx], -1),
      jnp.stack([-sin * sy, (cos - sin * sh) * sx], -1)], -2)  # [B, 2, 2]
  inverse = jnp.linalg.inv(forward)
  centre = jnp.array([(h - 1) / 2, (w - 1) / 2])
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij"), -1)
  source = jnp.einsum("bij,hwj->bhwi", inverse, grid - centre) + centre  # [B, H, W, 2]

  def warp(image, coords):  # [H, W, C], [H, W, 2]
    def channel(plane):
      return jax.scipy.ndimage.map_coordinates(
          plane, [coords[..., 0], coords[..., 1]], order=1, mode="constant", cval=0.0)
    return jax.vmap(channel, in_axes=-1, out_axes=-1)(image)

  return jax.vmap(warp)(x, source)


def make(model, config, info) -> StepFns:
  """Builds the classification StepFns for a `model` mapping images to logits."""
  tx = optim.make_optimizer(config.optim, config.train.num_steps,
                            rollback=nonfinite.policy(config) == "rollback")
  max_shift = config.augment.shift
  warp = {k: config.augment.get(k, 0.0) for k in WARP}

  def init(rng, batch, stage=0):
    del stage
    params = model.init(rng, to_unit_float(batch["image"]))["params"]
    return state_lib.create({NETWORK: params}, {NETWORK: tx.init(params)})

  def loss_fn(params, x, labels, rng):
    logits = model.apply({"params": params}, x, train=True, rngs={"dropout": rng})
    loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    return loss, {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}

  def train_step(state, batch, rng, stage=0, hparams=None):
    del stage
    hp = Hparams(config, hparams, ("optim.learning_rate",))
    rng = jax.random.fold_in(rng, state.step)
    r_shift, r_drop = jax.random.split(rng)
    # Folded, not split, so that runs without a warp draw exactly as before it existed.
    x = random_affine(jax.random.fold_in(rng, 1), to_unit_float(batch["image"]), **warp)
    x = random_shift(r_shift, x, max_shift)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(
        state.params[NETWORK], x, batch["label"], r_drop)
    new_state, norms = update_network(tx, state, NETWORK, grads, hp.lr_scale("optim"))
    return new_state, {**metrics, **norms}

  def eval_step(state, batch, rng, stage=0):
    del stage
    del rng
    logits = model.apply({"params": state.params[NETWORK]}, to_unit_float(batch["image"]))
    labels = batch["label"]
    return {"loss": optax.softmax_cross_entropy_with_integer_labels(logits, labels),
            "accuracy": (jnp.argmax(logits, -1) == labels).astype(jnp.float32)}

  def visualize(state, batch, stage=0):
    del stage
    del state
    return {"input": to_unit_float(batch["image"])}

  return StepFns(init=init, train_step=train_step, eval_step=eval_step, visualize=visualize)
