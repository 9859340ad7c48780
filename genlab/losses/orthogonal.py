"""BigGAN's orthogonal regularization of the generator (Brock et al. 2019, Sec. 3.1).

    R(W) = ‖WᵀW ⊙ (1 − I)‖²_F  for each kernel W as a [fan_in, out] matrix,

summed over kernels. It pushes the filters (W's columns) towards mutual orthogonality
without constraining their norms, which makes G smoother in z and so more amenable to
the truncation trick.

Penalized: every 'kernel' leaf of at least 2 dimensions (Dense [in, out], conv
[kh, kw, in, out]), raw (a spectrally normalized kernel is penalized before it is
divided by σ, as in BigGAN's code).
Skipped: biases and every other 1-d or 0-d array (BN scale/shift, attention's γ);
embeddings ('embedding' leaves: they are looked up, not multiplied); and the kernels
of ConditionalBatchNorm's condition projections (genlab.nn.gan_layers
.CONDITION_PROJECTIONS), which make gains and shifts, not features.

BigGAN's code adds β·2(WᵀW ⊙ (1 − I))… directly to the gradient, i.e. the gradient of
(β/2)·R: its β = 1e-4 is a weight of 5e-5 on this penalty.
"""

import jax
import jax.numpy as jnp

from genlab.nn.gan_layers import CONDITION_PROJECTIONS


def _penalized(path) -> bool:
  names = [getattr(key, "key", getattr(key, "name", None)) for key in path]
  return names[-1] == "kernel" and not any(n in CONDITION_PROJECTIONS for n in names)


def kernel_penalty(kernel: jax.Array) -> jax.Array:
  """‖WᵀW ⊙ (1 − I)‖²_F of one kernel [..., out] as W [fan_in, out]."""
  matrix = kernel.reshape(-1, kernel.shape[-1])
  fan_in, out = matrix.shape
  if out <= fan_in:
    gram = matrix.T @ matrix
    return jnp.sum(jnp.square(gram * (1.0 - jnp.eye(out, dtype=gram.dtype))))
  # A wide W (G's first Dense: 128 -> 4·4·256) has an out×out Gram of millions of
  # entries. ‖WᵀW‖²_F = ‖WWᵀ‖²_F (both are tr((WᵀW)²)), and the diagonal of WᵀW holds
  # the squared column norms, so the fan_in×fan_in Gram gives the same value.
  column_sq_norms = jnp.sum(jnp.square(matrix), axis=0)
  return jnp.sum(jnp.square(matrix @ matrix.T)) - jnp.sum(jnp.square(column_sq_norms))


def orthogonal_penalty(params) -> jax.Array:
  """BigGAN's orthogonal regularization, summed over a params tree's kernels.

  Args:
    params: a network's params (e.g. G's), a nested dict as flax makes them.

  Returns:
    The scalar penalty (unweighted); 0 when no leaf is penalized (module docstring).
  """
  leaves = jax.tree_util.tree_leaves_with_path(params)
  terms = [kernel_penalty(leaf) for path, leaf in leaves
           if jnp.ndim(leaf) >= 2 and _penalized(path)]
  return sum(terms, jnp.zeros((), jnp.float32))
