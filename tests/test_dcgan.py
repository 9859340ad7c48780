"""DCGAN: the fast transposed conv is exactly PyTorch's layer, and G/D shapes and labels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlab.evaluation.gan import critic_vs_dfid
from genlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from genlab.nn.resample import ConvTransposeUpsample, _adjoint, conv_transpose_s2


def _torch_conv_transpose(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
  """PyTorch's ConvTranspose2d(C, F, 4, stride=2, padding=1) by its definition:
  input pixel i scatters weight[:, :, k] to output 2i + k − 1. weight is [C, F, 4, 4]."""
  b, h, w, _ = x.shape
  out = np.zeros((b, 2 * h + 2, 2 * w + 2, weight.shape[1]))
  for i in range(h):
    for j in range(w):
      for ky in range(4):
        for kx in range(4):
          out[:, 2 * i + ky, 2 * j + kx] += x[:, i, j] @ weight[:, :, ky, kx]
  return out[:, 1:-1, 1:-1]


def test_conv_transpose_s2_is_pytorchs_transposed_conv():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 3, 5, 4)).astype(np.float32)
  weight = rng.normal(size=(4, 6, 4, 4)).astype(np.float32)  # PyTorch's [C, F, kH, kW]
  kernel = jnp.asarray(weight.transpose(2, 3, 1, 0))  # genlab's [4, 4, F, C]
  y = conv_transpose_s2(jnp.asarray(x), kernel)
  assert y.shape == (2, 6, 10, 6)
  np.testing.assert_allclose(y, _torch_conv_transpose(x, weight), atol=1e-4)


def test_conv_transpose_s2_hand_written_gradient_equals_autodiff():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 4, 3, 5)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(4, 4, 3, 5)), jnp.float32)
  target = jnp.asarray(rng.normal(size=(2, 8, 6, 3)), jnp.float32)
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)) * target)
  fast = jax.grad(loss(conv_transpose_s2), argnums=(0, 1))(x, kernel)
  reference = jax.grad(loss(_adjoint), argnums=(0, 1))(x, kernel)
  for a, b in zip(fast, reference):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_upsample_layer_doubles_and_has_bias():
  x = jnp.ones((2, 7, 7, 8))
  layer = ConvTransposeUpsample(5)
  params = layer.init(jax.random.key(0), x)["params"]
  assert params["kernel"].shape == (4, 4, 5, 8) and params["bias"].shape == (5,)
  assert layer.apply({"params": params}, x).shape == (2, 14, 14, 5)


@pytest.mark.parametrize("upsample", ["adjoint", "transpose", "subpixel"])
def test_generator_images_in_unit_interval(upsample):
  g = DCGANGenerator(image_shape=(28, 28, 1), latent_size=8, channels=(16, 8), upsample=upsample)
  z = jax.random.normal(jax.random.key(0), (3, 8))
  variables = g.init(jax.random.key(1), z)
  assert "batch_stats" in variables
  out, updates = g.apply(variables, z, None, True, mutable=["batch_stats"])
  assert out.shape == (3, 28, 28, 1)
  assert float(out.min()) >= 0 and float(out.max()) <= 1
  # Train mode updates the running statistics; inference mode uses them.
  assert not np.allclose(updates["batch_stats"]["bn_project"]["mean"],
                         variables["batch_stats"]["bn_project"]["mean"])
  assert g.apply(variables, z).shape == (3, 28, 28, 1)


def test_adjoint_and_transpose_upsamplers_are_the_same_function():
  z = jax.random.normal(jax.random.key(0), (2, 8))
  make = lambda up: DCGANGenerator(image_shape=(28, 28, 1), latent_size=8, channels=(16, 8),
                                   upsample=up)
  variables = make("adjoint").init(jax.random.key(1), z)
  # nn.ConvTranspose with padding 2 correlates with the flipped kernel, [4, 4, C, F].
  as_transpose = jax.tree.map(lambda v: v, variables)
  for name in ("up_0", "up_1"):
    k = variables["params"][name]["kernel"]
    as_transpose["params"][name]["kernel"] = jnp.flip(k, (0, 1)).transpose(0, 1, 3, 2)
  np.testing.assert_allclose(make("adjoint").apply(variables, z),
                             make("transpose").apply(as_transpose, z), atol=1e-5)


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_discriminator_logits_per_example(norm):
  d = DCGANDiscriminator(channels=(8, 16), norm=norm)
  x = jax.random.uniform(jax.random.key(0), (4, 28, 28, 1))
  variables = d.init(jax.random.key(1), x)
  assert ("batch_stats" in variables) == (norm == "batch")
  assert d.apply(variables, x).shape == (4,)


def _input_rows_seen(d, layer):
  """How many input rows one central unit of `layer`'s output depends on."""
  x = jax.random.uniform(jax.random.key(0), (1, 28, 28, 1))
  variables = d.init(jax.random.key(1), x)

  def unit(v):
    _, state = d.apply(variables, v, capture_intermediates=True, mutable=["intermediates"])
    return state["intermediates"][layer]["__call__"][0][0, 3, 3].sum()

  rows = np.nonzero(np.abs(np.asarray(jax.grad(unit)(x))[0, :, :, 0]).sum(axis=1))[0]
  return rows.max() - rows.min() + 1


def test_head_convs_widen_what_the_logit_inputs_see():
  assert _input_rows_seen(DCGANDiscriminator(channels=(8, 16), norm="none"), "down_1") == 10
  wide = DCGANDiscriminator(channels=(8, 16), norm="none", head_convs=1)
  assert _input_rows_seen(wide, "head_0") == 18
  for norm in ("batch", "layer"):
    d = DCGANDiscriminator(channels=(8, 16), norm=norm, head_convs=2)
    x = jnp.ones((3, 28, 28, 1))
    variables = d.init(jax.random.key(1), x)
    assert {"head_0", "head_1"} <= set(variables["params"]) and d.apply(variables, x).shape == (3,)


def test_conditional_discriminator_projects_the_label():
  d = DCGANDiscriminator(channels=(8, 16), norm="none", num_classes=10)
  x = jax.random.uniform(jax.random.key(0), (4, 28, 28, 1))
  labels = jnp.array([0, 1, 2, 3])
  variables = d.init(jax.random.key(1), x, labels)
  assert variables["params"]["projection"]["embedding"].shape == (10, 7 * 7 * 16)
  a, b = d.apply(variables, x, labels), d.apply(variables, x, (labels + 1) % 10)
  assert not np.allclose(a, b)  # the same image scores differently under another class
  with pytest.raises(ValueError, match="needs labels"):
    d.apply(variables, x)


def test_unknown_names_fail_clearly():
  z = jnp.zeros((1, 8))
  with pytest.raises(ValueError, match="unknown upsampler 'bogus'; known: adjoint"):
    DCGANGenerator(image_shape=(28, 28, 1), latent_size=8, upsample="bogus").init(
        jax.random.key(0), z)
  with pytest.raises(ValueError, match="unknown discriminator norm 'spectral'"):
    DCGANDiscriminator(norm="spectral").init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))


def test_critic_vs_dfid_rank_correlation(tmp_path):
  # The Wasserstein critic's d_loss rises toward 0 (W estimate −d_loss falls) as dFID falls.
  records = []
  for i, step in enumerate(range(100, 1100, 100)):
    records.append({"step": step, "train/d_loss": -10.0 / (i + 1)})
    if step % 200 == 0:
      records.append({"step": step, "samples/dfid": 500.0 / (i + 1)})
  scores, path = critic_vs_dfid(records, "wasserstein", str(tmp_path / "c.png"))
  assert scores["health/critic_dfid_spearman"] == pytest.approx(1.0)
  assert open(path, "rb").read(4) == b"\x89PNG"
  # The same numbers under a non-Wasserstein loss are not negated: perfect anti-correlation.
  scores, _ = critic_vs_dfid(records, "ns", str(tmp_path / "d.png"))
  assert scores["health/critic_dfid_spearman"] == pytest.approx(-1.0)
  assert critic_vs_dfid(records[:3], "wasserstein", str(tmp_path / "e.png")) == ({}, None)


# Odd sides (7 -> 3 in a 3-layer D on 28×28) have no exact transposed-conv adjoint.
@pytest.mark.parametrize("shape", [(2, 8, 6, 3), (2, 7, 5, 3)])
def test_conv_down_s2_is_nn_conv_and_its_second_derivative_is_autodiffs(shape):
  import flax.linen as nn
  from genlab.nn.resample import ConvDownsample, conv_s2
  x = jax.random.normal(jax.random.key(0), shape)
  layer = ConvDownsample(5)
  variables = layer.init(jax.random.key(1), x)
  reference = nn.Conv(5, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
  np.testing.assert_allclose(layer.apply(variables, x), reference.apply(variables, x),
                             atol=1e-5)
  kernel = variables["params"]["kernel"]

  def penalty_grad(conv):  # a gradient penalty's gradient: reverse over reverse
    def penalty(k):
      gx = jax.grad(lambda v: jnp.sum(jnp.tanh(conv(v, k))))(x)
      return jnp.sum(gx ** 2)
    return jax.grad(penalty)(kernel)

  from genlab.nn.resample import conv_down_s2
  np.testing.assert_allclose(penalty_grad(conv_down_s2), penalty_grad(conv_s2),
                             rtol=1e-4, atol=1e-4)
