"""The sweep runner: load a config file's sweep, run its points, collect their results.

A library (no flags): experiments.sweep is its command line, and experiments.compare
runs each model's seeds through it. A point NAME trains in ROOT/NAME with one
`experiments.main` process (`--config.KEY=VALUE` overrides), optionally evaluated by
`experiments.evaluate`, and logs to ROOT/NAME/sweep.log; ROOT/NAME/sweep_done or
sweep_failed.json records how it ended, so a rerun skips finished points.
"""

import dataclasses
import fcntl
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from genlab import sweeps
from genlab.errors import UserError
from genlab.writers import read_metrics

DONE, FAILED, LOG = "sweep_done", "sweep_failed.json", "sweep.log"


@dataclasses.dataclass
class Sweep:
  """A loaded and checked sweep.

  Attributes:
    config: the --config value, path normalised (what the point commands pass on).
    points: the override dicts, in sweep order.
    names: their point names (directory names under root).
    metric: (key, 'min' | 'max') or None.
    root: the sweep's directory.
    evaluate: whether each point also runs experiments.evaluate.
  """

  config: str
  points: list
  names: list
  metric: tuple | None
  root: str
  evaluate: bool

  def dir(self, i: int) -> str:
    return os.path.join(self.root, self.names[i])

  def commands(self, i: int) -> list[list[str]]:
    """The point's commands: train, then (unless --noevaluate) evaluate."""
    overrides = [f"--config.{k}={sweeps.format_value(v)}" for k, v in self.points[i].items()]
    train = [sys.executable, "-m", "experiments.main", f"--config={self.config}",
             f"--workdir={self.dir(i)}", *overrides]
    evaluate = [sys.executable, "-m", "experiments.evaluate", f"--workdir={self.dir(i)}"]
    return [train, evaluate] if self.evaluate else [train]

  def finished(self, i: int) -> bool:
    done = os.path.exists(os.path.join(self.dir(i), DONE))
    return done and (not self.evaluate or os.path.exists(os.path.join(self.dir(i), "eval.json")))

  def command_line(self, *extra: str) -> str:
    """This sweep's own command, as a user would type it."""
    args = ["python", "-m", "experiments.sweep", f"--config={self.config}",
            f"--workdir={self.root}", *([] if self.evaluate else ["--noevaluate"]), *extra]
    return shlex.join(args)


# ------------------------------------------------------------------ loading


def load_module(path: str):
  """The config file as a module, loaded from its path as ml_collections' config_flags does."""
  if not os.path.isfile(path):
    raise UserError(f"--config: no such file {path!r}")
  name = "sweep_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load(config_flag: str, root: str, evaluate: bool) -> Sweep:
  """Loads a config file's sweep and checks every point against its config.

  Args:
    config_flag: path[:arg].
    root: the sweep's directory.
    evaluate: whether points run experiments.evaluate.
  Returns:
    The Sweep.
  Raises:
    UserError: no sweep() in the module, a malformed sweep or SWEEP_METRIC, or an
      override the config does not have or cannot take.
  """
  path, has_arg, arg = config_flag.partition(":")
  path = os.path.normpath(path)
  module = load_module(path)
  if not callable(getattr(module, "sweep", None)):
    raise UserError(f"{path} defines no sweep(): add one returning a list of override "
                    "dicts (docs/sweeps.md)")
  metric = getattr(module, "SWEEP_METRIC", None)
  if metric is not None:
    if (not isinstance(metric, (tuple, list)) or len(metric) != 2
        or not isinstance(metric[0], str) or metric[1] not in ("min", "max")):
      raise UserError(f"{path}: SWEEP_METRIC must be (key, 'min' | 'max'), got {metric!r}")
    metric = tuple(metric)
  points = module.sweep()
  try:
    names = sweeps.validate(points)
  except UserError as e:
    raise UserError(f"{path}: {e}") from None
  args = [arg] if has_arg else []
  for name, point in zip(names, points):
    config = module.get_config(*args)
    try:
      sweeps.apply_overrides(config, point)
    except UserError as e:
      raise UserError(f"{path}: sweep point {name}: {e}") from None
  config = path + (f":{arg}" if has_arg else "")
  return Sweep(config, points, names, metric, root, evaluate)


def _write_atomic(path: str, text: str):
  with open(path + ".tmp", "w") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def write_or_check_manifest(sweep: Sweep):
  """Writes ROOT/sweep.json, or checks that the one there describes the same sweep."""
  manifest = {"config": sweep.config,
              "points": [{"name": n, "overrides": p} for n, p in zip(sweep.names, sweep.points)]}
  manifest = json.loads(json.dumps(manifest))  # tuples read back as lists
  path = os.path.join(sweep.root, "sweep.json")
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    if old != manifest:
      raise UserError(f"{sweep.root} holds another sweep (its sweep.json: "
                      f"{old.get('config')}, {len(old.get('points', []))} points; this one: "
                      f"{sweep.config}, {len(sweep.points)} points); use another --workdir")
    return
  os.makedirs(sweep.root, exist_ok=True)
  _write_atomic(path, json.dumps(manifest, indent=2) + "\n")


# ------------------------------------------------------------------ running


def _last_line(path: str) -> str:
  """The log's last non-empty line that the sweep did not write itself."""
  try:
    with open(path, "rb") as f:
      f.seek(max(0, os.path.getsize(path) - 65536))
      text = f.read().decode("utf-8", "replace").replace("\r", "\n")
  except OSError:
    return ""
  lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("# sweep")]
  return lines[-1] if lines else "(no output)"


def run_point(sweep: Sweep, i: int, wait: bool) -> str:
  """Runs point i unless it has finished: 'ok', 'skipped', 'failed' or 'busy'.

  The point holds an exclusive lock on ROOT/NAME/.lock while it runs, and its
  commands inherit it, so a point whose sweep was killed stays locked until its
  orphaned command ends, and two sweep commands on one ROOT never run a point twice.

  Args:
    sweep: the sweep.
    i: the point's index.
    wait: wait for a point another process holds, instead of returning 'busy'.
  """
  if sweep.finished(i):
    return "skipped"
  point_dir = sweep.dir(i)
  os.makedirs(point_dir, exist_ok=True)
  with open(os.path.join(point_dir, ".lock"), "w") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
      return "busy"
    if sweep.finished(i):  # another process finished it while we waited
      return "skipped"
    for stale in (DONE, FAILED):
      if os.path.exists(os.path.join(point_dir, stale)):
        os.remove(os.path.join(point_dir, stale))
    start, log_path = time.time(), os.path.join(point_dir, LOG)
    with open(log_path, "a") as log:
      for command in sweep.commands(i):
        log.write(f"# sweep {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(command)}\n")
        log.flush()
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, pass_fds=(lock.fileno(),)).returncode
        if code:
          log.flush()
          record = {"exit_code": code, "error": _last_line(log_path), "command": command}
          _write_atomic(os.path.join(point_dir, FAILED), json.dumps(record, indent=2) + "\n")
          return "failed"
    _write_atomic(os.path.join(point_dir, DONE), json.dumps(
        {"evaluate": sweep.evaluate, "seconds": round(time.time() - start, 1)}) + "\n")
    return "ok"


def run_all(sweep: Sweep, parallel: int) -> None:
  """Runs every unfinished point, `parallel` at once; prints one line per point.

  Points another process holds are left for the end and then waited for.
  """
  printing, n = threading.Lock(), len(sweep.points)

  def one(i: int, wait: bool) -> str:
    start = time.time()
    status = run_point(sweep, i, wait)
    with printing:
      if status == "failed":
        with open(os.path.join(sweep.dir(i), FAILED)) as f:
          record = json.load(f)
        note = f"exit {record['exit_code']}: {record['error']} (log: {sweep.dir(i)}/{LOG})"
      else:
        note = {"ok": f"{time.time() - start:.0f} s", "skipped": "finished before",
                "busy": "running in another process; waiting for it at the end"}[status]
      print(f"[{i + 1}/{n}] {sweep.names[i]}: {status} ({note})", flush=True)
    return status

  with ThreadPoolExecutor(parallel) as pool:
    statuses = list(pool.map(lambda i: one(i, wait=False), range(n)))
    busy = [i for i, s in enumerate(statuses) if s == "busy"]
    list(pool.map(lambda i: one(i, wait=True), busy))


# ------------------------------------------------------------------ results


def _metrics(sweep: Sweep, i: int) -> dict:
  """A finished point's scalar metrics: eval.json, or the last value of each key in
  metrics.jsonl under --noevaluate."""
  def scalar(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)
  if sweep.evaluate:
    with open(os.path.join(sweep.dir(i), "eval.json")) as f:
      return {k: v for k, v in json.load(f).items() if scalar(v) and k != "step"}
  metrics = {}
  for record in read_metrics(sweep.dir(i)):
    metrics.update({k: v for k, v in record.items() if scalar(v) and k != "step"})
  return metrics


def collect(sweep: Sweep) -> list[sweeps.Row]:
  """One row per point from what its directory holds, best first."""
  rows = []
  for i, (name, point) in enumerate(zip(sweep.names, sweep.points)):
    failed = os.path.join(sweep.dir(i), FAILED)
    if sweep.finished(i):
      rows.append(sweeps.Row(name, point, "ok", _metrics(sweep, i)))
    elif os.path.exists(failed):
      with open(failed) as f:
        record = json.load(f)
      rows.append(sweeps.Row(name, point, "failed",
                             error=f"exit {record['exit_code']}: {record['error']}"))
    else:
      status = "unfinished" if os.path.isdir(sweep.dir(i)) else "pending"
      rows.append(sweeps.Row(name, point, status))
  return sweeps.sort_rows(rows, sweep.metric)


def write_results(sweep: Sweep, rows: list[sweeps.Row]) -> None:
  """ROOT/results.csv, results.md and results.png."""
  keys = sweeps.swept_keys(sweep.points)
  columns = sweeps.metric_columns(rows, sweep.metric[0] if sweep.metric else None)
  _write_atomic(os.path.join(sweep.root, "results.csv"), sweeps.to_csv(rows, keys, columns))
  counts = {s: sum(r.status == s for r in rows) for s in ("ok", "failed")}
  md = [f"# Sweep results: {os.path.basename(os.path.abspath(sweep.root))}", "",
        f"`{sweep.command_line()}`", "",
        f"{counts['ok']} of {len(rows)} points finished, {counts['failed']} failed. "
        + (f"Sorted by `{sweep.metric[0]}` ({sweep.metric[1]}), best first."
           if sweep.metric else "In sweep order (the config sets no SWEEP_METRIC)."), "",
        sweeps.to_markdown(rows, keys, columns)]
  png = os.path.join(sweep.root, "results.png")
  if columns and sweeps.plot(rows, keys, columns[0], png):
    md += [f"`{columns[0]}` against each swept key:", "", "![](results.png)", ""]
  failures = [r for r in rows if r.status == "failed"]
  if failures:
    md += ["## Failed points", ""]
    md += [f"- `{r.name}`: {r.error} (log: `{r.name}/{LOG}`)" for r in failures] + [""]
  _write_atomic(os.path.join(sweep.root, "results.md"), "\n".join(md))


# ------------------------------------------------------------------ SLURM


def emit_slurm(sweep: Sweep, header: str, limit: int | None) -> str:
  """Writes ROOT/sweep.sbatch, a job array running `--point=$SLURM_ARRAY_TASK_ID`."""
  root = os.path.abspath(sweep.root)
  array = f"0-{len(sweep.points) - 1}" + (f"%{limit}" if limit else "")
  extra = [ln for ln in header.replace("\\n", "\n").splitlines() if ln.strip()]
  command = [sys.executable, "-m", "experiments.sweep", f"--config={sweep.config}",
             f"--workdir={root}", *([] if sweep.evaluate else ["--noevaluate"])]
  lines = ["#!/bin/bash",
           f"#SBATCH --job-name=sweep-{os.path.basename(root)}",
           f"#SBATCH --array={array}",
           f"#SBATCH --output={root}/slurm-%A_%a.out",
           *extra,
           f"# {len(sweep.points)} points of {sweep.config}; written by: "
           + sweep.command_line("--emit=slurm", *([f"--parallel={limit}"] if limit else [])),
           "set -euo pipefail",
           f"cd {shlex.quote(os.getcwd())}",
           f"{shlex.join(command)} --point=\"$SLURM_ARRAY_TASK_ID\""]
  path = os.path.join(root, "sweep.sbatch")
  _write_atomic(path, "\n".join(lines) + "\n")
  return path
