"""The reconstruction step family: plain, tied, stacked, sparse, denoising and conv AEs.

Optional terms, all from the config:
  * `noise.mask_prob` / `noise.gaussian_std`: denoising (loss against the clean x);
  * `sparsity.beta > 0`: β·Σ_j KL(ρ‖ρ̂_j) on the code, with ρ̂ per batch or a running
    average over the training set (`sparsity.estimate`);
  * `train.layerwise_steps > 0`: greedy layer-wise pre-training, one stage per layer,
    then end-to-end fine-tuning (stage = number of layers).
"""

import jax
import jax.numpy as jnp

from genlab import nonfinite, optim, state as state_lib
from genlab.data import transforms
from genlab.errors import UserError
from genlab.losses import RECONSTRUCTION_LOSSES, bernoulli_kl, mse, psnr
from genlab.steps.base import Hparams, StepFns, update_network, model_inputs, to_unit_float

NETWORK = "ae"  # the family's one network in the train state


def sparsity_penalty(code: jax.Array, running: jax.Array, cfg) -> tuple[jax.Array, jax.Array]:
  """β·Σ_j KL(ρ‖ρ̂_j) and the ρ̂ estimate it used.

  With `estimate='running'`, ρ̂ takes the value m·running + (1−m)·batch mean (the
  lecture's "ρ̂ needs a pass over the data", made incremental) but the gradient of
  the batch mean at full scale: differentiating the blend itself would shrink the
  penalty's gradient by (1−m), i.e. 100× at m = 0.99.
  """
  batch_mean = jnp.mean(code, axis=0)
  if cfg.estimate == "batch":
    rho_hat = batch_mean
  elif cfg.estimate == "running":
    value = cfg.momentum * running + (1 - cfg.momentum) * batch_mean
    rho_hat = jax.lax.stop_gradient(value) + batch_mean - jax.lax.stop_gradient(batch_mean)
  else:
    raise UserError(f"unknown sparsity.estimate {cfg.estimate!r}; known: batch, running")
  return cfg.beta * jnp.sum(bernoulli_kl(cfg.rho, rho_hat)), rho_hat


def make(model, config, info) -> StepFns:
  """Builds the reconstruction StepFns for an autoencoder `model`.

  Args:
    model: a module with `__call__(x) -> (logits, code)`, `encode`, `decode` and,
      for greedy pre-training, `layerwise(x, k)` and `num_layers`.
    config: the full experiment config.
    info: the dataset's `genlab.data.dataset_info`.
  Returns:
    StepFns for the loop.
  """
  rec_loss = RECONSTRUCTION_LOSSES.get(config.loss.reconstruction)
  tx = optim.make_optimizer(config.optim, config.train.num_steps,
                            rollback=nonfinite.policy(config) == "rollback")
  sparse, noise = config.sparsity, config.noise
  use_sparsity = sparse.beta > 0
  layerwise_steps = config.train.layerwise_steps
  num_layers = getattr(model, "num_layers", None) if layerwise_steps else None
  if layerwise_steps and num_layers is None:
    raise UserError(f"train.layerwise_steps needs an MLP model; got {config.model.name!r}")
  final_stage = num_layers or 0

  def inputs(batch, rng):
    return model_inputs(batch, rng, config.data.binarize)

  def init(rng, batch, stage=0):
    del stage
    params = model.init(rng, inputs(batch, rng))["params"]
    extra = {}
    if use_sparsity:
      extra["rho_running"] = jnp.full((config.model.code_size,), sparse.rho, jnp.float32)
    return state_lib.create({NETWORK: params}, {NETWORK: tx.init(params)}, extra=extra)

  def loss_fn(params, x_clean, x_in, extra, stage):
    variables = {"params": params}
    if stage < final_stage:
      pred, target, code = model.apply(variables, x_in, stage, method="layerwise")
      # Layer 0 is scored against the clean pixels; deeper layers reproduce activations.
      rec = rec_loss(pred, x_clean) if stage == 0 else jnp.mean(jnp.square(pred - target), -1)
    else:
      logits, code = model.apply(variables, x_in, train=True)
      rec = rec_loss(logits, x_clean)
    loss = jnp.mean(rec)
    aux = {"rec": loss, "mean_activation": jnp.mean(code)}
    new_extra = dict(extra)
    if use_sparsity and stage >= final_stage - 1:
      penalty, rho_hat = sparsity_penalty(code, extra["rho_running"], sparse)
      loss = loss + penalty
      aux["sparsity_penalty"] = penalty
      new_extra["rho_running"] = jax.lax.stop_gradient(rho_hat)
    aux["loss"] = loss
    return loss, (aux, new_extra)

  def train_step(state, batch, rng, stage=final_stage, hparams=None):
    hp = Hparams(config, hparams, ("optim.learning_rate",))
    rng = jax.random.fold_in(rng, state.step)
    r_bin, r_noise = jax.random.split(rng)
    x = inputs(batch, r_bin)
    x_in = transforms.corrupt(r_noise, x, noise.mask_prob, noise.gaussian_std)
    grads, (metrics, extra) = jax.grad(loss_fn, has_aux=True)(
        state.params[NETWORK], x, x_in, state.extra, stage)
    new_state, norms = update_network(tx, state, NETWORK, grads, hp.lr_scale("optim"),
                                      extra=extra)
    return new_state, {**metrics, **norms}

  def eval_step(state, batch, rng, stage=0):
    del stage
    x = inputs(batch, rng)
    variables = {"params": state.params[NETWORK]}
    logits, code = model.apply(variables, x)
    err = mse(logits, x)
    energy = jnp.mean(jnp.square(x).reshape(x.shape[0], -1), -1)
    out = {"loss": rec_loss(logits, x), "mse": err, "psnr": psnr(err),
           # ‖x̂ − x‖² / ‖x‖²: the error relative to the image's ink (anomaly score).
           "nmse": err / jnp.maximum(energy, 1e-12),
           "mean_activation": jnp.mean(code.reshape(code.shape[0], -1), -1)}
    if noise.mask_prob > 0 or noise.gaussian_std > 0:
      x_noisy = transforms.corrupt(jax.random.fold_in(rng, 1), x, noise.mask_prob,
                                   noise.gaussian_std)
      noisy_err = jnp.mean(jnp.square(x_noisy - x).reshape(x.shape[0], -1), -1)
      denoised_err = mse(model.apply(variables, x_noisy)[0], x)
      out.update(psnr_noisy=psnr(noisy_err), psnr_denoised=psnr(denoised_err))
    return out

  def visualize(state, batch, stage=0):
    del stage
    x = to_unit_float(batch["image"])
    variables = {"params": state.params[NETWORK]}
    shown = {"input": x, "reconstruction": jax.nn.sigmoid(model.apply(variables, x)[0])}
    if noise.mask_prob > 0 or noise.gaussian_std > 0:
      x_noisy = transforms.corrupt(jax.random.key(0), x, noise.mask_prob, noise.gaussian_std)
      shown.update(noisy=x_noisy, denoised=jax.nn.sigmoid(model.apply(variables, x_noisy)[0]))
    return shown

  def stage_at(step: int) -> int:
    return min(step // layerwise_steps, final_stage) if layerwise_steps else final_stage

  stages = tuple(range(final_stage + 1)) if layerwise_steps else (final_stage,)
  return StepFns(init=init, train_step=train_step, eval_step=eval_step,
                 visualize=visualize, stage_at=stage_at, stages=stages)
