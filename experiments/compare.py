"""The lecture's summary, measured: AE, VAE and GANs side by side, across seeds.

  python -m experiments.compare --root=ROOT [--seeds=3] [--models=conv_ae,conv_vae,...] \
      [--smoke] [--fail_dfid=500] [--noanomaly]

Each model of MODELS trains with seeds 0 … seeds − 1, through the sweep runner
(experiments.sweep: one `experiments.main` process per run, in ROOT/<model>/seed_<s>;
its budget, `train.num_steps`, is the only override). Each finished run is then scored
under one protocol (genlab.evaluation.summary: reconstruction, samples, path length,
the 10-label probe) and, where its family has an anomaly score, by the one-class
protocol (`experiments.anomaly` with `--steps`, in ROOT/<model>/seed_<s>/anomaly).
ROOT/summary.json holds every run's numbers and each model's mean ± std;
ROOT/summary.md the table and ROOT/summary.png a row of samples and an interpolation
per model (seed 0). Rerunning resumes: finished runs, scores and anomaly runs are kept.
"""

import dataclasses
import fcntl
import json
import os
import platform
import re
import subprocess
import sys
import time

import jax
import numpy as np
from absl import flags

from experiments import cli, features
from experiments import sweep_runner
from genlab import data, evaluate, experiment, families, feature_nets, sweeps
from genlab.errors import UserError
from genlab.evaluation import figures, summary, summary_table
from genlab.writers import read_metrics


@dataclasses.dataclass(frozen=True)
class Model:
  """One row of the summary: a config and the budget it trains for here."""

  label: str
  config: str  # path[:arg]
  steps: int  # train.num_steps (shortened from the config's own to fit the hour)


MODELS = {
    "conv_ae": Model("conv AE", "experiments/configs/conv_ae.py", 1500),
    "conv_vae": Model("conv VAE", "experiments/configs/vae.py:conv", 4000),
    "dcgan": Model("DCGAN", "experiments/configs/dcgan.py", 2000),
    "sagan": Model("SAGAN (class-conditional, 32 px)", "experiments/configs/sagan.py", 2000),
}

_ROOT = flags.DEFINE_string("root", None, "output root: one directory per model and seed")
_SEEDS = flags.DEFINE_integer("seeds", 3, "seeds per model (0 … seeds − 1)", lower_bound=1)
_MODELS = flags.DEFINE_list("models", list(MODELS), f"models to run, of {', '.join(MODELS)}")
_SMOKE = flags.DEFINE_bool("smoke", False, "each config's smoke variant (seconds; tests)")
# A collapsed or diverged GAN scores in the thousands (gan.py's collapse: 2,364; wgan.py's
# clipped critic: 994); blurry but working AEs and VAEs score 250-350 here.
_FAIL_DFID = flags.DEFINE_float("fail_dfid", 500.0, "a seed whose dFID exceeds this failed "
                                "(collapsed or diverged)")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 1000, "samples scored per run", lower_bound=2)
_PPL_PATHS = flags.DEFINE_integer("ppl_paths", 1000, "paths of the path length", lower_bound=2)
_ANOMALY = flags.DEFINE_bool("anomaly", True, "one-class anomaly AUROC for families with a score")
_ANOMALY_STEPS = flags.DEFINE_integer("anomaly_steps", 150, "training steps per class of the "
                                      "anomaly protocol", lower_bound=1)
flags.mark_flags_as_required(["root"])

SCORES, ROW = "summary_scores.json", "summary_row.npz"


def config_flag(model: Model, smoke: bool) -> str:
  """The model's --config value, with `smoke` added to its arg string when asked."""
  if not smoke:
    return model.config
  path, has_arg, arg = model.config.partition(":")
  return f"{path}:{arg},smoke" if has_arg else f"{path}:smoke"


def build_sweep(name: str, model: Model, root: str, seeds: int, smoke: bool):
  """The model's seeds as a sweep (experiments.sweep_runner.Sweep), checked against its config."""
  flag = config_flag(model, smoke)
  points = [{"seed": s} if smoke else {"seed": s, "train.num_steps": model.steps}
            for s in range(seeds)]
  module = sweep_runner.load_module(flag.partition(":")[0])
  for point in points:
    config = module.get_config(flag.partition(":")[2] or None)
    sweeps.apply_overrides(config, point)
    experiment.validate(config)
  names = [f"seed_{s}" for s in range(seeds)]
  return sweep_runner.Sweep(flag, points, names, None, os.path.join(root, name), False)


def _write_json(path: str, obj) -> None:
  with open(path + ".tmp", "w") as f:
    json.dump(obj, f, indent=2, sort_keys=True)
  os.replace(path + ".tmp", path)


def cost_and_health(workdir: str) -> dict:
  """Train time (the point's training command, start-up included), the loop's images/s
  (median of its logged rates × batch), how many health alarms it raised, and the last
  in-loop test −ELBO of a VAE."""
  with open(os.path.join(workdir, sweep_runner.DONE)) as f:
    seconds = json.load(f)["seconds"]
  records = read_metrics(workdir)
  rates = [r["train/steps_per_sec"] for r in records if "train/steps_per_sec" in r]
  batch = experiment.load_config(workdir).data.batch_size
  alarms = sum(1 for r in records for k in r if k.startswith("alarm/"))
  out = {"cost/train_seconds": float(seconds),
         "cost/images_per_s": float(np.median(rates)) * batch if rates else float("nan"),
         "health/alarms": alarms}
  # A likelihood where the family has one: the VAE's last in-loop test −ELBO (nats).
  elbo = [r["test/neg_elbo"] for r in records if "test/neg_elbo" in r]
  if elbo:
    out["test/neg_elbo"] = float(elbo[-1])
  return out


def anomaly_auroc(sweep, i: int, smoke: bool) -> dict:
  """The one-class AUROC of point i ({} for a family without an anomaly score).

  `experiments.anomaly` runs in ROOT/<model>/seed_<s>/anomaly until its anomaly.json
  exists (it resumes itself); its wall time is kept beside it. A failed run is one
  'anomaly/error' entry: the next invocation tries again, the others go on. The run
  holds seed_<s>/.anomaly.lock, as the sweep runner's commands hold their point's lock,
  so a run left behind by a killed compare is waited for, never run twice.
  """
  config = experiment.load_config(sweep.dir(i))
  if families.get(config.step_family).anomaly_score is None:
    return {}
  root = os.path.join(sweep.dir(i), "anomaly")
  result, timing = os.path.join(root, "anomaly.json"), os.path.join(root, "compare_seconds")
  with open(os.path.join(sweep.dir(i), ".anomaly.lock"), "w") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      print("  waiting for the anomaly run an earlier compare left running", flush=True)
      fcntl.flock(lock, fcntl.LOCK_EX)
    if not os.path.exists(result):
      command = [sys.executable, "-m", "experiments.anomaly", f"--config={sweep.config}",
                 f"--workdir={root}", f"--steps={_ANOMALY_STEPS.value}",
                 f"--config.seed={sweep.points[i]['seed']}",
                 *(["--classes=0,1"] if smoke else [])]
      start, log_path = time.time(), os.path.join(sweep.dir(i), "anomaly.log")
      with open(log_path, "a") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, pass_fds=(lock.fileno(),)).returncode
      if code:
        print(f"  anomaly failed (exit {code}; log: {log_path})", flush=True)
        return {"anomaly/error": f"exit {code}; log: {log_path}"}
      with open(timing, "w") as f:
        f.write(f"{time.time() - start:.1f}\n")
  with open(result) as f:
    got = json.load(f)
  seconds = float("nan")
  if os.path.exists(timing):
    with open(timing) as f:
      seconds = float(f.read())
  return {"anomaly/auroc": got["auroc/mean"], "cost/anomaly_seconds": seconds,
          "protocol/anomaly_steps": _ANOMALY_STEPS.value,
          "protocol/anomaly_classes": sum(bool(re.fullmatch(r"auroc/c\d+", k)) for k in got)}


def score_run(sweep, i: int, feature_net, figure_row: bool) -> tuple[dict, bool]:
  """Point i's summary scores, and whether they were measured before.

  The measured part is cached in the run's SCORES file; the anomaly part always comes
  from the anomaly run's own record (anomaly_auroc).
  """
  workdir = sweep.dir(i)
  path = os.path.join(workdir, SCORES)
  kept = os.path.exists(path)
  if kept:
    with open(path) as f:
      scores = json.load(f)
  else:
    start = time.time()
    exp, state = evaluate.restore(workdir)
    scores = summary.measure(exp, state, feature_net, num_samples=_NUM_SAMPLES.value,
                             ppl_paths=_PPL_PATHS.value, seed=0)
    if figure_row:
      np.savez(os.path.join(workdir, ROW), **figure_rows(exp, state))
    scores["cost/score_seconds"] = time.time() - start
    scores.update(cost_and_health(workdir))
    _write_json(path, scores)
  if _ANOMALY.value:
    scores.update(anomaly_auroc(sweep, i, _SMOKE.value))
  return scores, kept


def figure_rows(exp, state, n: int = 8) -> dict:
  """Eight samples and an eight-step interpolation between two latents (seed 0), at the
  reference size."""
  space = summary.latent_space(exp, state)
  real = data.load_arrays(summary.REFERENCE, "test")[0]
  crop = lambda x: summary.to_reference(np.asarray(x), *real.shape[1:3])
  samples = crop(exp.family.sample(exp, state, n, jax.random.key(0), None))
  z = space.sample(np.random.default_rng(0), 2)
  t = np.linspace(0, 1, n)
  path = (1 - t[:, None]) * z[0] + t[:, None] * z[1]
  # A class-conditional generator keeps one class (the first) along the path.
  return {"samples": samples,
          "interpolation": crop(space.decode(path.astype(np.float32), label=0))}


def write_figure(root: str, rows: dict[str, str]) -> str | None:
  """ROOT/summary.png: per model, its samples then its interpolation (one row)."""
  images = []
  for workdir in rows.values():
    if os.path.exists(os.path.join(workdir, ROW)):
      got = np.load(os.path.join(workdir, ROW))
      images.append(np.concatenate([got["samples"], got["interpolation"]]))
  if not images:
    return None
  return figures.rows_png(os.path.join(root, "summary.png"), images)


def reference_net(smoke: bool):
  """The feature net of the reference data, trained as the first model's config says."""
  first = MODELS[_MODELS.value[0]]
  module = sweep_runner.load_module(first.config.partition(":")[0])
  config = module.get_config(config_flag(first, smoke).partition(":")[2] or None)
  return feature_nets.get(features.classifier_config(summary.REFERENCE,
                                                     config.eval.feature_net_steps))


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  unknown = [m for m in _MODELS.value if m not in MODELS]
  if unknown or not _MODELS.value:
    raise UserError(f"--models: unknown {', '.join(unknown) or '(none given)'}; "
                    f"choose from {', '.join(MODELS)}")
  root, smoke, start = _ROOT.value, _SMOKE.value, time.time()
  experiment.check_workdir(root)
  runs = {name: build_sweep(name, MODELS[name], root, _SEEDS.value, smoke)
          for name in _MODELS.value}
  net = reference_net(smoke)
  out = {"command": " ".join(["python -m experiments.compare", *sys.argv[1:]]),
         "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}",
         "protocol": {"reference_data": summary.REFERENCE, "feature_net": net.name,
                      "num_samples": _NUM_SAMPLES.value, "ppl_paths": _PPL_PATHS.value,
                      "probe_labels_per_class": summary.PROBE_LABELS,
                      "fail_dfid": _FAIL_DFID.value,
                      "anomaly_steps": _ANOMALY_STEPS.value if _ANOMALY.value else None},
         "models": {}}
  for name, sweep in runs.items():
    print(f"compare: {name}: {len(sweep.points)} seeds of {sweep.config}", flush=True)
    sweep_runner.write_or_check_manifest(sweep)
    sweep_runner.run_all(sweep, 1)
    per_seed = {}
    for i, seed_name in enumerate(sweep.names):
      if not sweep.finished(i):
        per_seed[seed_name] = {"failed": f"training did not finish (log: {sweep.dir(i)}/"
                                         f"{sweep_runner.LOG})"}
        continue
      per_seed[seed_name], kept = score_run(sweep, i, net, figure_row=(i == 0))
      print(f"  {seed_name}: {'scores kept' if kept else 'scored'}", flush=True)
    config = experiment.load_config(sweep.dir(0)) if sweep.finished(0) else None
    out["models"][name] = {
        "label": MODELS[name].label, "config": sweep.config,
        "steps": config.train.num_steps if config else MODELS[name].steps,
        "batch": config.data.batch_size if config else 0,
        "runs": per_seed, "summary": summary_table.aggregate(per_seed, _FAIL_DFID.value)}
  out["baselines"] = {"probe/pixels_acc_10": summary.pixel_probe()}
  out["seconds_this_invocation"] = round(time.time() - start, 1)
  out["seconds_all_runs"] = round(sum(
      v.get("cost/train_seconds", 0) + v.get("cost/score_seconds", 0)
      + v.get("cost/anomaly_seconds", 0)
      for m in out["models"].values() for v in m["runs"].values()), 1)
  _write_json(os.path.join(root, "summary.json"), out)
  figure = write_figure(root, {n: s.dir(0) for n, s in runs.items()})
  md = [f"# The summary, measured: {os.path.basename(os.path.abspath(root))}", "",
        f"`{out['command']}` — {out['machine']}; runs and scoring took "
        f"{out['seconds_all_runs'] / 60:.1f} min in all.", "",
        summary_table.markdown(out["models"]), "",
        f"The same probe on raw pixels: {out['baselines']['probe/pixels_acc_10']:.3f}.", ""]
  if figure:
    md += ["Samples (left) and a lerp between two latents (right), seed 0, one row per "
           "model (top to bottom: " + ", ".join(m.label for m in map(MODELS.get, runs))
           + "):", "", "![](summary.png)", ""]
  with open(os.path.join(root, "summary.md"), "w") as f:
    f.write("\n".join(md))
  print(f"summary: {root}/summary.md, {root}/summary.json "
        f"({out['seconds_all_runs'] / 60:.1f} min of runs)")
  crashed = crashed_runs(out["models"])
  if crashed:  # in the summary as failed; the exit status tells a script, as sweep's does
    print(f"compare: {len(crashed)} run(s) crashed: {', '.join(crashed)}; rerun the command "
          "to retry them", file=sys.stderr)
  return 1 if crashed else 0


def crashed_runs(models: dict) -> list[str]:
  """MODEL/seed_S of the runs whose training or anomaly protocol did not finish."""
  return [f"{name}/{seed}" for name, model in models.items()
          for seed, run in model["runs"].items() if "failed" in run or "anomaly/error" in run]


if __name__ == "__main__":
  cli.run_main(main)
