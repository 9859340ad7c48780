"""Sweeps: genlab.sweeps' points, names and checks, and `python -m experiments.sweep`.

The command-line tests run the real entry point as a user would (plain subprocesses,
cold start); the two that train use `ae.py:smoke`-sized points of a few seconds each.
"""

import ast
import csv
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT, load_config
from experiments.configs import ae, dcgan, vae
from genlab import sweeps
from genlab.errors import UserError

# ------------------------------------------------------------------ building sweeps


def test_grid_is_the_product_with_the_first_key_slowest():
  points = sweeps.grid({"a": [1, 2], "b.c": ["x", "y", "z"]})
  assert len(points) == 6
  assert points[:3] == [{"a": 1, "b.c": "x"}, {"a": 1, "b.c": "y"}, {"a": 1, "b.c": "z"}]
  assert points[3] == {"a": 2, "b.c": "x"}


@pytest.mark.parametrize("axes", [{}, {"a": []}, {"a": 1}, {"a": (1, 2)}, [("a", [1])]])
def test_grid_refuses_malformed_axes(axes):
  with pytest.raises(UserError):
    sweeps.grid(axes)


def test_zipped_pairs_values_by_index():
  assert sweeps.zipped({"a": [1, 2], "b": [0.1, 0.2]}) == [{"a": 1, "b": 0.1}, {"a": 2, "b": 0.2}]
  with pytest.raises(UserError, match="equally long"):
    sweeps.zipped({"a": [1, 2], "b": [0.1]})


def test_random_search_is_deterministic_distinct_and_rounded():
  axes = {"optim.learning_rate": sweeps.log_uniform(1e-4, 1e-2),
          "vae.beta": sweeps.uniform(0.5, 2.0), "model.latent_size": [8, 16, 32]}
  points = sweeps.random_search(20, axes, seed=3)
  assert points == sweeps.random_search(20, axes, seed=3)
  assert points != sweeps.random_search(20, axes, seed=4)
  assert len(points) == 20 and len(set(map(sweeps.point_name, points))) == 20
  for p in points:
    assert 1e-4 <= p["optim.learning_rate"] <= 1e-2 and 0.5 <= p["vae.beta"] <= 2.0
    assert p["model.latent_size"] in (8, 16, 32) and type(p["model.latent_size"]) is int
    for key in ("optim.learning_rate", "vae.beta"):
      assert p[key] == float(f"{p[key]:.3g}") and type(p[key]) is float
  # Log-uniform: as many draws below the geometric mean (1e-3) as above, roughly.
  below = sum(p["optim.learning_rate"] < 1e-3 for p in sweeps.random_search(200, axes, seed=0))
  assert 70 < below < 130


def test_random_search_refuses_what_it_cannot_draw():
  with pytest.raises(UserError, match="only 2 distinct"):
    sweeps.random_search(3, {"a": [1, 2]}, seed=0)
  with pytest.raises(UserError, match="lo > 0"):
    sweeps.log_uniform(0.0, 1.0)
  with pytest.raises(UserError, match="lo < hi"):
    sweeps.uniform(1.0, 1.0)


# ------------------------------------------------------------------ names and checks


def test_point_name_example_and_clashing_last_components():
  assert (sweeps.point_name({"optim.learning_rate": 0.001, "model.code_size": 16})
          == "code_size=16,learning_rate=0.001")
  assert (sweeps.point_name({"optim.g.learning_rate": 1e-4, "optim.d.learning_rate": 2e-4,
                             "gan.n_critic": 2})
          == "n_critic=2,optim.d.learning_rate=0.0002,optim.g.learning_rate=0.0001")
  assert sweeps.point_name({}) == "default"


def test_point_names_are_safe_and_distinct():
  points = sweeps.grid({"a.s": ["translation,cutout", "x y/z", "-1"], "b.t": [(16, 32), (), (1,)],
                        "c": [True, 1e-5, -3, 2.5]})
  names = sweeps.validate(points)
  assert len(set(names)) == len(points) == 36
  for name in names:
    assert re.fullmatch(r"[A-Za-z0-9._=,-]+", name), name
  long = [{"model.hidden": tuple(range(i, i + 60))} for i in range(3)]
  long_names = sweeps.validate(long)
  assert len(set(long_names)) == 3 and all(len(n) <= 120 for n in long_names)


def test_format_value_parses_back():
  for value in [16, 0.0003, 1e-05, -2.5, True, (16, 32), (7,), (), ("a", "b,c")]:
    assert ast.literal_eval(sweeps.format_value(value)) == value
  assert sweeps.format_value((16, 32)) == "(16,32)"
  assert sweeps.format_value("translation,cutout") == "translation,cutout"  # str fields: raw


@pytest.mark.parametrize("points,message", [
    ([], "non-empty list"),
    ({"a": 1}, "non-empty list"),
    ([{"a": 1}, 3], "point 1 is a int"),
    ([{1: 2}], "not a dotted config key"),
    ([{"a..b": 2}], "not a dotted config key"),
    ([{"a": [1, 2]}], "values are bool"),
    ([{"a": None}], "values are bool"),
    ([{"a": 1, "b": 2}, {"b": 2, "a": 1}], "points 0 and 1 are the same"),
    ([{"a": "x y"}, {"a": "x_y"}], "share the name 'a=x_y'"),
])
def test_validate_refuses_with_one_line(points, message):
  with pytest.raises(UserError, match=re.escape(message)) as e:
    sweeps.validate(points)
  assert "\n" not in str(e.value)


def test_apply_overrides_checks_keys_and_types():
  config = load_config("ae", "smoke")
  sweeps.apply_overrides(config, {"model.code_size": 8, "optim.learning_rate": 1})
  assert config.model.code_size == 8 and config.optim.learning_rate == 1.0
  for point, message in [({"model.code_sizee": 8}, "did you mean 'code_size'"),
                         ({"modl.code_size": 8}, "no 'modl'"),
                         ({"model": 8}, "is a config section"),
                         ({"model.code_size": 1.5}, "model.code_size=1.5")]:
    with pytest.raises(UserError, match=re.escape(message)):
      sweeps.apply_overrides(config, point)


@pytest.mark.parametrize("module", [ae, vae, dcgan], ids=lambda m: m.__name__.split(".")[-1])
def test_config_sweeps_are_valid_for_the_config_and_its_smoke_variant(module):
  points = module.sweep()
  names = sweeps.validate(points)
  key, mode = module.SWEEP_METRIC
  assert key.split("/")[0] in ("test", "samples") and mode in ("min", "max")
  for arg in (None, "smoke"):
    for point in points:
      sweeps.apply_overrides(module.get_config(arg), point)
  assert len(set(names)) == len(points) >= 4


def test_ae_sweep_stays_small():
  # Its smoke version is what the end-to-end test below trains.
  assert len(ae.sweep()) == 4


def test_rows_sort_by_metric_with_failed_last():
  def row(name, status, value=None):
    return sweeps.Row(name, {}, status, {} if value is None else {"test/mse": value})
  rows = [row("f", "failed"), row("a", "ok", 0.3), row("p", "pending"), row("b", "ok", 0.1)]
  best_first = [r.name for r in sweeps.sort_rows(rows, ("test/mse", "min"))]
  assert best_first[:2] == ["b", "a"] and best_first[-1] == "f"
  assert [r.name for r in sweeps.sort_rows(rows, ("test/mse", "max"))][:2] == ["a", "b"]
  assert [r.name for r in sweeps.sort_rows(rows, None)] == ["f", "a", "p", "b"]


# ------------------------------------------------------------------ the command line


def _sweep(config: str, root, *flags: str, **kwargs) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "experiments.sweep", f"--config={config}",
                         f"--workdir={root}", *flags], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=kwargs.pop("timeout", 300), **kwargs)


def _config_file(tmp_path, body: str) -> str:
  path = tmp_path / "sweep_cfg.py"
  path.write_text("from experiments.configs import ae\n\nget_config = ae.get_config\n"
                  + textwrap.dedent(body))
  return str(path)


def _csv(root) -> list[dict]:
  with open(os.path.join(root, "results.csv")) as f:
    return list(csv.DictReader(f))


@pytest.mark.slow
def test_unknown_override_key_is_one_line_and_runs_nothing(tmp_path):
  config = _config_file(tmp_path, "def sweep():\n  return [{'model.code_sizee': 16}]\n")
  root = tmp_path / "root"
  proc = _sweep(config, root)
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and "'model.code_sizee'" in lines[0]
  assert not root.exists()


@pytest.mark.slow
@pytest.mark.scale
def test_config_without_sweep_and_a_root_of_another_sweep_are_refused(tmp_path):
  proc = _sweep("experiments/configs/gan.py", tmp_path / "r1")
  assert proc.returncode == 2 and "experiments/configs/gan.py defines no sweep()" in proc.stderr
  root = tmp_path / "r2"
  assert _sweep("experiments/configs/ae.py:smoke", root, "--emit=slurm").returncode == 0
  proc = _sweep("experiments/configs/vae.py:smoke", root, "--emit=slurm")
  assert proc.returncode == 2 and "holds another sweep" in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1
  proc = _sweep("experiments/configs/ae.py:smoke", tmp_path / "r3", "--collect")
  assert proc.returncode == 2 and "holds no sweep" in proc.stderr
  assert not (tmp_path / "r3").exists()


@pytest.mark.slow
@pytest.mark.scale
def test_collect_reads_eval_json_of_evaluated_points(tmp_path):
  root, points = tmp_path / "root", ae.sweep()
  names = sweeps.validate(points)
  root.mkdir()
  (root / "sweep.json").write_text(json.dumps({
      "config": "experiments/configs/ae.py:smoke",
      "points": [{"name": n, "overrides": p} for n, p in zip(names, points)]}))
  for name, mse in zip(names[:3], (0.5, 0.2, 0.1)):
    (root / name).mkdir()
    (root / name / "sweep_done").write_text("{}")
    (root / name / "metrics.jsonl").write_text(json.dumps({"step": 20, "test/mse": mse}) + "\n")
  for name, mse in zip(names[:2], (0.5, 0.2)):  # the third point was trained, not evaluated
    (root / name / "eval.json").write_text(json.dumps(
        {"step": 20, "test/mse": mse, "samples/dfid": 3.0, "probe/accuracy": 0.9,
         "protocol": {"n": 1000}}))
  proc = _sweep("experiments/configs/ae.py:smoke", root, "--collect")
  assert proc.returncode == 0, proc.stderr
  rows = _csv(root)
  assert [(r["name"], r["status"], r["test/mse"]) for r in rows] == [
      (names[1], "ok", "0.2"), (names[0], "ok", "0.5"), (names[2], "unfinished", ""),
      (names[3], "pending", "")]
  assert list(rows[0])[2:] == ["model.code_size", "optim.learning_rate", "test/mse",
                               "samples/dfid", "error"]
  assert rows[0]["model.code_size"] == "16" and rows[0]["optim.learning_rate"] == "0.003"
  # Trained under --noevaluate, the third point counts as finished.
  assert _sweep("experiments/configs/ae.py:smoke", root, "--collect",
                "--noevaluate").returncode == 0
  assert [r["status"] for r in _csv(root)] == ["ok", "ok", "ok", "pending"]


@pytest.mark.slow
def test_emit_slurm_writes_an_array_script(tmp_path):
  root = tmp_path / "root"
  proc = _sweep("experiments/configs/ae.py:smoke", root, "--noevaluate", "--emit=slurm",
                "--slurm_header=#SBATCH --gres=gpu:1\\n#SBATCH --time=10")
  assert proc.returncode == 0, proc.stderr
  script = (root / "sweep.sbatch").read_text()
  assert "#SBATCH --array=0-3\n" in script
  assert f"#SBATCH --output={root}/slurm-%A_%a.out" in script
  assert "#SBATCH --job-name=" in script
  assert "#SBATCH --gres=gpu:1\n#SBATCH --time=10\n" in script
  assert ("-m experiments.sweep --config=experiments/configs/ae.py:smoke "
          f"--workdir={root} --noevaluate --point=\"$SLURM_ARRAY_TASK_ID\"") in script
  assert subprocess.run(["bash", "-n", str(root / "sweep.sbatch")]).returncode == 0
  assert f"sbatch {root}/sweep.sbatch" in proc.stdout and "--collect" in proc.stdout
  assert sorted(os.listdir(root)) == ["sweep.json", "sweep.sbatch"]  # nothing ran


@pytest.mark.slow
@pytest.mark.scale
def test_failed_point_is_recorded_and_the_sweep_goes_on(tmp_path):
  config = _config_file(tmp_path, """
      SWEEP_METRIC = ("test/mse", "min")

      def sweep():  # the first point passes the config check and fails in experiments.main
        return [{"data.name": "no_such_dataset"}, {"model.code_size": 16}]
      """) + ":smoke"
  root = tmp_path / "root"
  proc = _sweep(config, root, "--noevaluate")
  assert proc.returncode == 1, proc.stderr
  assert "name=no_such_dataset: failed (exit 2: error:" in proc.stdout
  rows = _csv(root)
  assert [(r["name"], r["status"]) for r in rows] == [
      ("code_size=16", "ok"), ("name=no_such_dataset", "failed")]
  assert float(rows[0]["test/mse"]) > 0 and rows[1]["error"].startswith("exit 2: error:")
  assert "no_such_dataset" in rows[1]["error"]
  assert "## Failed points" in (root / "results.md").read_text()
  # The failed point alone, as a SLURM task would run it, fails again; --collect agrees.
  assert _sweep(config, root, "--noevaluate", "--point=0").returncode == 1
  assert _sweep(config, root, "--noevaluate", "--collect").returncode == 1
  assert [r["status"] for r in _csv(root)] == ["ok", "failed"]


@pytest.mark.slow
@pytest.mark.scale
def test_killed_sweep_resumes_without_rerunning_finished_points(tmp_path):
  root = tmp_path / "root"
  config = "experiments/configs/ae.py:smoke"
  names = sweeps.validate(ae.sweep())
  first = root / names[0]
  command = [sys.executable, "-m", "experiments.sweep", f"--config={config}",
             f"--workdir={root}", "--noevaluate"]
  # Its own process group: if the test fails, nothing it started outlives it.
  proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
  try:
    deadline = time.time() + 240
    while not (first / "sweep_done").exists() and proc.poll() is None and time.time() < deadline:
      time.sleep(0.02)
    # Only the sweep process: the second point's experiments.main, if it started, lives
    # on as an orphan and keeps the point locked until it ends.
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (first / "sweep_done").exists(), "the first point never finished"
    assert not (root / names[-1] / "sweep_done").exists(), "the sweep ended before the kill"
    before = {f: (first / f).stat().st_mtime_ns for f in ("sweep_done", "sweep.log",
                                                          "metrics.jsonl")}
    log = (first / "sweep.log").read_bytes()

    rerun = _sweep(config, root, "--noevaluate", "--parallel=2")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
  finally:
    try:
      os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
  assert f"[1/4] {names[0]}: skipped" in rerun.stdout
  assert {f: (first / f).stat().st_mtime_ns for f in before} == before
  assert (first / "sweep.log").read_bytes() == log
  rows = _csv(root)
  assert sorted(r["name"] for r in rows) == sorted(names)
  assert all(r["status"] == "ok" and float(r["test/mse"]) > 0 for r in rows)
  mses = [float(r["test/mse"]) for r in rows]
  assert mses == sorted(mses)
  assert all((root / n / "sweep_done").exists() for n in names)
  assert "![](results.png)" in (root / "results.md").read_text()
  assert (root / "results.png").stat().st_size > 0
  # The line SLURM's task 0 would run: the finished point is skipped.
  assert _sweep(config, root, "--noevaluate", "--emit=slurm").returncode == 0
  task = subprocess.run(["bash", str(root / "sweep.sbatch")], capture_output=True, text=True,
                        env=dict(os.environ, SLURM_ARRAY_TASK_ID="0"), timeout=120)
  assert task.returncode == 0 and f"{names[0]}: skipped" in task.stdout, task.stderr
