"""The ELBO step family: VAEs trained on −ELBO = E_q[−log p(x|z)] + β·KL(q(z|x) ‖ N(0, I)).

β ramps linearly from 0 over `vae.kl_warmup_steps` (KL warm-up), then stays at
`vae.beta`. Evaluation always reports the β = 1 bound, so numbers are likelihoods.
"""

import jax
import jax.numpy as jnp

from genlab import nonfinite, optim, state as state_lib
from genlab.errors import UserError
from genlab.losses import bce, gaussian_kl, gaussian_nll
from genlab.models.vae import reparameterize
from genlab.steps.base import Hparams, StepFns, update_network, model_inputs, to_unit_float

NETWORK = "vae"  # the family's one network in the train state


# likelihood -> the decoder's mean as a function of its raw output. `gaussian` is for
# pixels in [0, 1]; `gaussian_unbounded` for real-valued data such as the 2-D toy sets.
DECODER_MEANS = {"bernoulli": jax.nn.sigmoid, "gaussian": jax.nn.sigmoid,
                 "gaussian_unbounded": lambda out: out}


def _check_likelihood(config):
  if config.vae.likelihood not in DECODER_MEANS:
    raise UserError(f"unknown vae.likelihood {config.vae.likelihood!r}; "
                    f"known: {', '.join(DECODER_MEANS)}")


def decoder_mean(config, out):
  """E[x|z] from the decoder's raw output, for the configured likelihood."""
  _check_likelihood(config)
  return DECODER_MEANS[config.vae.likelihood](out)


def neg_log_likelihood(config, logits, x, log_sigma):
  """−log p(x|z) per example, in nats, for the configured likelihood."""
  _check_likelihood(config)
  if config.vae.likelihood == "bernoulli":
    return bce(logits, x)
  return gaussian_nll(decoder_mean(config, logits), x, log_sigma)


def elbo_terms(model, config, params, x, rng):
  """Per-example (−log p(x|z), KL) for one posterior sample. Each [B]."""
  variables = {"params": params}
  mean, logvar = model.apply(variables, x, method="encode")
  z = reparameterize(rng, mean, logvar)
  logits = model.apply(variables, z, method="decode")
  log_sigma = model.apply(variables, method=lambda m: m.log_sigma)
  return neg_log_likelihood(config, logits, x, log_sigma), gaussian_kl(mean, logvar)


def beta_at(config, step, beta=None):
  """β (`vae.beta`, or a traced `beta`) with linear warm-up from 0 over
  `vae.kl_warmup_steps`."""
  warmup = config.vae.kl_warmup_steps
  ramp = jnp.minimum(1.0, step / warmup) if warmup > 0 else 1.0
  return (config.vae.beta if beta is None else beta) * ramp


def make(model, config, info) -> StepFns:
  """Builds the ELBO StepFns for a VAE `model` (see genlab.models.vae)."""
  tx = optim.make_optimizer(config.optim, config.train.num_steps,
                            rollback=nonfinite.policy(config) == "rollback")

  def inputs(batch, rng):
    return model_inputs(batch, rng, config.data.binarize)

  def init(rng, batch, stage=0):
    del stage
    r_init, r_z = jax.random.split(rng)
    params = model.init(r_init, inputs(batch, rng), r_z)["params"]
    return state_lib.create({NETWORK: params}, {NETWORK: tx.init(params)})

  def loss_fn(params, x, rng, beta):
    rec, kl = elbo_terms(model, config, params, x, rng)
    loss = jnp.mean(rec + beta * kl)
    return loss, {"loss": loss, "rec": jnp.mean(rec), "kl": jnp.mean(kl),
                  "neg_elbo": jnp.mean(rec + kl), "beta": beta}

  def train_step(state, batch, rng, stage=0, hparams=None):
    del stage
    hp = Hparams(config, hparams, ("optim.learning_rate", "vae.beta"))
    rng = jax.random.fold_in(rng, state.step)
    r_bin, r_z = jax.random.split(rng)
    x = inputs(batch, r_bin)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(
        state.params[NETWORK], x, r_z, beta_at(config, state.step, hp("vae.beta")))
    new_state, norms = update_network(tx, state, NETWORK, grads, hp.lr_scale("optim"))
    return new_state, {**metrics, **norms}

  def eval_step(state, batch, rng, stage=0):
    del stage
    r_bin, r_z = jax.random.split(rng)
    x = inputs(batch, r_bin)
    rec, kl = elbo_terms(model, config, state.params[NETWORK], x, r_z)
    return {"neg_elbo": rec + kl, "rec": rec, "kl": kl, "loss": rec + kl}

  def visualize(state, batch, stage=0):
    del stage
    variables = {"params": state.params[NETWORK]}
    x = to_unit_float(batch["image"])
    mean, _ = model.apply(variables, x, method="encode")
    z = jax.random.normal(jax.random.key(0), mean.shape)
    return {"input": x,
            "reconstruction": jax.nn.sigmoid(model.apply(variables, mean, method="decode")),
            "prior_sample": jax.nn.sigmoid(model.apply(variables, z, method="decode"))}

  return StepFns(init=init, train_step=train_step, eval_step=eval_step, visualize=visualize)
