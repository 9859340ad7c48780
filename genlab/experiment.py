"""Builds everything a run needs from a config: data, model, step family, mesh.

Shared by training, evaluation and sampling, so all three see the same objects.
"""

import dataclasses
import functools
import json
import os
import sys
import time

import jax
import ml_collections
import numpy as np

from genlab import data, families, guards, models, nonfinite, population, sharding
from genlab.checkpoint import CheckpointError, Checkpointer
from genlab.data import transforms
from genlab.errors import UserError
from genlab.evaluation.split import evaluate_split
from genlab.state import TrainState
from genlab.steps import StepFns


class ConfigMismatchError(UserError):
  """The workdir already holds a run with a different config."""


Split = dict[str, np.ndarray]  # a dataset's fields, each [N, ...]


@dataclasses.dataclass
class Experiment:
  """A config made concrete.

  Attributes:
    config: the locked experiment config.
    info: `genlab.data.dataset_info` of the dataset.
    train, test: this process's shards of the splits, as typed fields ({'image',
      'label'}, paired {'source', 'target', ...}, unpaired {'a', 'b', ...}).
    model: the flax module.
    family: the step family (genlab.families.StepFamily).
    fns: the family's step functions for this model and config.
    mesh: the device mesh (one `data` axis).
  """

  config: ml_collections.ConfigDict
  info: dict
  train: Split
  test: Split
  model: object
  family: families.StepFamily
  fns: StepFns
  mesh: jax.sharding.Mesh

  def rngs(self) -> dict[str, jax.Array]:
    """Independent streams, so evaluating or sampling never shifts training's."""
    init, train, evaluation, sample = jax.random.split(jax.random.key(self.config.seed), 4)
    return {"init": init, "train": train, "eval": evaluation, "sample": sample}

  def example_batch(self) -> dict:
    n = sharding.local_batch_size(self.config.data.batch_size, self.mesh)
    return {k: v[:n] for k, v in self.train.items()}

  def _init(self, stage: int | None):
    """(the init of `stage`'s networks, its arguments); default: the first step's stage."""
    stage = self.fns.stage_at(0) if stage is None else stage
    return (functools.partial(self.fns.init, stage=stage),
            (self.rngs()["init"], self.example_batch()))

  def init_state(self, stage: int | None = None) -> TrainState:
    """A fresh, replicated train state with the networks of `stage` (default: the
    first step's), jit-initialised and never materialised twice."""
    init, args = self._init(stage)
    return jax.jit(init, out_shardings=sharding.replicated(self.mesh))(*args)

  def abstract_state(self, stage: int | None = None) -> TrainState:
    """`init_state(stage)`'s shapes, dtypes and (replicated) shardings, traced but
    neither compiled nor run: what a checkpoint restore reads against. Compiling the
    init only to throw its result away cost every resume, evaluate and sample command
    its whole init compile (SAGAN's: 6 s at XLA's default optimisation)."""
    init, args = self._init(stage)
    replicated = sharding.replicated(self.mesh)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated),
                        jax.eval_shape(init, *args))

  def state_stage(self, step: int) -> int:
    return self.fns.state_stage(step, self.config.train.num_steps)

  def params(self, state: TrainState):
    """The params of a single-network family's one network."""
    return state.params[self.family.network]

  def evaluate_split(self, state: TrainState, rng: jax.Array, split: Split | None = None,
                     batch_size: int | None = None) -> dict[str, np.ndarray]:
    """The family's eval_step over every example of `split` (default: test)."""
    stage = self.state_stage(int(state.step))
    if stage not in self._eval_fns:
      self._eval_fns[stage] = jax.jit(functools.partial(self.fns.eval_step, stage=stage))
    return evaluate_split(self._eval_fns[stage], state, self.test if split is None else split,
                          batch_size or self.config.data.eval_batch_size, rng, self.mesh)

  def for_config(self, config: ml_collections.ConfigDict, same_fns: bool) -> "Experiment":
    """This experiment's data, model and mesh under `config` (a population member's),
    which differs in its seed and, unless `same_fns`, in scalars the steps read."""
    fns = self.fns if same_fns else self.family.make(self.model, config, self.info)
    return dataclasses.replace(self, config=config, fns=fns)

  def __post_init__(self):
    self._eval_fns: dict = {}


def build(config: ml_collections.ConfigDict) -> Experiment:
  """Loads the data and builds model, step family and mesh for `config`."""
  validate(config)
  data_dir = config.data.data_dir or None
  info = data.dataset_info(config.data.name, data_dir)
  # Each process reads only its own shard of each split.
  shard = (jax.process_index(), jax.process_count())
  train = data.load_split(config.data.name, "train", data_dir, shard=shard)
  if config.data.get("train_classes"):
    train = _only_classes(train, tuple(config.data.train_classes), config.data.name)
  test = data.load_split(config.data.name, "test", data_dir, shard=shard)
  if config.data.binarize:
    test["image"] = transforms.binarize_fixed(test["image"])
  family = families.get(config.step_family)
  model = models.build(config.model, info)
  fns = family.make(model, config, info)
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.data.batch_size, mesh)
  # The input pipeline checks this too, but only once the workdir is written.
  local, n_train = sharding.local_batch_size(config.data.batch_size, mesh), len(_first(train))
  if local > n_train:
    raise UserError(f"data.batch_size {config.data.batch_size} exceeds the {n_train} training "
                    f"examples of {config.data.name!r}; use at most {n_train}")
  return Experiment(config, info, train, test, model, family, fns, mesh)


def _first(split: Split) -> np.ndarray:
  return next(iter(split.values()))


SEED_RANGE = 2**32  # JAX keeps a seed's low 32 bits: 2**32 would silently repeat seed 0

# Model fields every network needs at least one of, and fields where 0 means "none";
# their meaning is in genlab.models. Checked here so that a bad size is one line before
# the workdir is written, not a shape error (or ZeroDivisionError) in the first init.
_SIZES = ("code_size", "feature_size")
_WIDTHS = ("hidden", "channels", "g_hidden", "d_hidden", "g_channels", "d_channels")
_COUNTS = ("embed_size", "attention_res", "d_layers", "d_head_convs", "dropout_layers")
_NO_PRIOR_GAMES = ("pix2pix", "cycle")  # translation games: latent_size 0 = no z


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line UserError for a field no run can use; reads no data.

  The loop's fields (genlab.guards.validate), the seed, the batch sizes and the model's
  sizes. `build` calls it first; entry points that write before building call it too.
  """
  guards.validate(config)
  k = max(1, int(config.get("population", 1) or 1))  # a population seeds seed..seed+k-1
  if not 0 <= config.seed <= SEED_RANGE - k:
    raise UserError(f"seed must be an integer in 0..{SEED_RANGE - k}, got {config.seed}")
  for field in ("batch_size", "eval_batch_size"):
    if config.data[field] < 1:
      raise UserError(f"data.{field} must be at least 1, got {config.data[field]}")
  model = config.model
  game = config.gan.game if config.get("gan") is not None else None
  least = {f: 1 for f in _SIZES} | {f: 0 for f in _COUNTS}
  least["latent_size"] = 0 if game in _NO_PRIOR_GAMES else 1
  for field, low in least.items():
    value = model.get(field)
    if _is_int(value) and value < low:
      raise UserError(f"model.{field} must be at least {low}, got {value}")
  for field in _WIDTHS:
    widths = model.get(field) or ()
    if any(_is_int(w) and w < 1 for w in widths):
      raise UserError(f"model.{field} widths must each be at least 1, got {tuple(widths)}")
  dropout = model.get("dropout")
  if dropout is not None and not 0 <= dropout < 1:
    raise UserError(f"model.dropout must be a probability in [0, 1), got {dropout}")


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _only_classes(split: Split, classes, name) -> Split:
  """The examples of `split` whose label is in `classes` (one-class training)."""
  keep = np.isin(split["label"], classes)
  if not keep.any():
    raise UserError(f"data.train_classes={classes} selects no training example of {name!r}")
  return {k: v[keep] for k, v in split.items()}


def _no_checkpoint(workdir: str) -> CheckpointError:
  return CheckpointError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')}; train "
                         f"first with python -m experiments.main --config=... --workdir={workdir}")


def check_checkpoint(workdir: str) -> None:
  """Raises CheckpointError unless `workdir` holds a checkpoint directory (cheap: before
  any slow set-up; `restore` also finds out whether it can be read)."""
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not any(d.isdigit() for d in (os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else [])):
    raise _no_checkpoint(workdir)


def restore(workdir: str) -> tuple[Experiment, TrainState]:
  """Rebuilds a workdir's experiment and restores its newest checkpoint."""
  config = load_config(workdir)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  check_checkpoint(workdir)
  exp = build(config)
  ckpt = Checkpointer(ckpt_dir, config.train.checkpoint_every, config.train.keep_checkpoints)
  try:
    state = ckpt.restore(lambda step: exp.abstract_state(exp.state_stage(step)))
  finally:
    ckpt.close()
  if state is None:
    raise _no_checkpoint(workdir)
  if not guards.all_finite(state.params):
    raise guards.NonFiniteError(f"the checkpoint of step {int(state.step)} in {ckpt_dir} holds "
                                "NaN or infinite parameters; nothing to evaluate or sample")
  return exp, state


def config_to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(population.without_defaults(config.to_dict()), indent=2, sort_keys=True,
                    default=list)


# Fields that set only how long a run is and how often it logs, evaluates and saves: a
# rerun may change them (to extend a finished run, say), and config.json records it.
RESUMABLE = tuple(f"train.{f}" for f in ("num_steps", "log_every", "eval_every",
                                          "sample_every", "checkpoint_every",
                                          "keep_checkpoints", "steps_per_call"))
HISTORY = "_history"  # config.json's list of such changes; not a config field


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was trained with (its latest run-length fields), locked."""
  if not workdir:
    raise UserError("the workdir is empty (''); name a workdir trained by experiments.main")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"{workdir!r} is a file, not a genlab workdir (a directory); "
                    "train one with python -m experiments.main first")
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise UserError(f"{path} not found; is {workdir!r} a genlab workdir? "
                    "train one with python -m experiments.main first")
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, ValueError) as e:  # unreadable, not UTF-8, not JSON
    raise UserError(f"{path} is unreadable or corrupt ({type(e).__name__}: {e}); "
                    "retrain in a new --workdir") from e
  sections = ("data", "model", "train")  # and what every config has besides them
  bad = ([k for k in ("seed", "step_family", *sections) if k not in saved] +
         [k for k in sections if not isinstance(saved.get(k, {}), dict)]
         if isinstance(saved, dict) else ["everything: not a JSON object"])
  if bad:
    raise UserError(f"{path} is not a genlab config (missing or malformed: {', '.join(bad)}); "
                    "retrain in a new --workdir")
  saved.pop(HISTORY, None)
  config = ml_collections.ConfigDict(saved)
  config.lock()
  return config


def _compare(config: ml_collections.ConfigDict, workdir: str):
  """(saved dict or None, new dict, {changed resumable key: [old, new]}); raises
  ConfigMismatchError if any other field differs."""
  path = os.path.join(workdir, "config.json")
  new = json.loads(config_to_json(config))
  if not os.path.exists(path):
    return None, new, {}
  with open(path) as f:
    old = json.load(f)
  history = old.pop(HISTORY, [])
  if isinstance(old.get("train"), dict):  # written before these fields existed
    old["train"] = {**nonfinite.DEFAULTS, "steps_per_call": 1, **old["train"]}
  diff = sorted(_diff_keys(old, new))
  refused = [k for k in diff if k not in RESUMABLE]
  if refused:
    raise ConfigMismatchError(
        f"{workdir!r} holds a run with a different config (differs in: "
        f"{', '.join(refused[:6])}); use a new --workdir or rerun with the same config "
        f"(only {', '.join(RESUMABLE)} may change)")
  changes = {k: [_lookup(old, k), _lookup(new, k)] for k in diff}
  old[HISTORY] = history
  return old, new, changes


def _lookup(tree: dict, key: str):
  for part in key.split("."):
    tree = tree[part]
  return tree


def check_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Raises a UserError unless `workdir` can be written (check_workdir), and
  ConfigMismatchError if it holds a run with a different config."""
  check_workdir(workdir)
  _compare(config, workdir)


def writable(directory: str) -> bool:
  """Whether files can be made in `directory`. Root passes access(2) on any directory of
  a writable filesystem; one whose write bits are all off was still made read-only on
  purpose, so it counts as read-only for root too."""
  if not os.access(directory, os.W_OK):
    return False
  return os.geteuid() != 0 or bool(os.stat(directory).st_mode & 0o222)


def check_workdir(workdir: str, flag: str = "--workdir") -> None:
  """Raises a one-line UserError unless `workdir` is, or can be made, a writable
  directory; writes nothing. `flag` is how the user named it, for the message."""
  if not workdir:
    raise UserError(f"{flag} is empty; name a directory to write the run in")
  if os.path.lexists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"{flag} {workdir!r} is a file, not a directory; use another {flag}")
  existing = os.path.abspath(workdir)
  while not os.path.lexists(existing):  # the directory it will be made in
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise UserError(f"{flag} {workdir!r} cannot be made: {existing!r} is a file, not a "
                    f"directory; use another {flag}")
  if not writable(existing):
    raise UserError(f"{flag} {workdir!r} is read-only ({existing!r} is not writable); make "
                    f"it writable or use another {flag}")


def write_or_check_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes config.json, or refuses a workdir that holds a different config. A change of
  the RESUMABLE fields only is accepted: config.json takes the new values and its
  `_history` lists each change with the time of the run that made it."""
  path = os.path.join(workdir, "config.json")
  old, new, changes = _compare(config, workdir)
  if old is not None and not changes:
    return
  if changes:
    new[HISTORY] = old[HISTORY] + [{"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                     "changed": changes}]
    print(f"{workdir}: {', '.join(f'{k} {a} -> {b}' for k, (a, b) in changes.items())} "
          "(recorded in config.json)", file=sys.stderr)
  os.makedirs(workdir, exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(json.dumps(new, indent=2, sort_keys=True, default=list))
  os.replace(tmp, path)


def _diff_keys(a, b, prefix=""):
  if isinstance(a, dict) and isinstance(b, dict):
    for k in set(a) | set(b):
      yield from _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
  elif a != b:
    yield prefix.rstrip(".")
