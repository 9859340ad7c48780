"""`make bench`: experiments.benchmark for every image config of README's table, and
the compile time of each config file's `smoke` variant; writes the table into README.

  python -m experiments.bench_table [--readme=README.md] [--records=docs/bench.jsonl]
      [--loop=ae.py,vae.py,dcgan.py] [--only=SUBSTRING]

Each config runs in a fresh process (`python -m experiments.benchmark`), one after
another, so compile times are cold and runs do not share the CPU. The configs are the
rows of README's "Configs and measured figures" table that were trained here (a train
time, image data); `--loop` names those whose whole loop is timed too
(pipeline_efficiency: two runs of `eval_every` and twice that many steps). Every
record goes to --records (JSON lines, with the machine), and the table between
README's `bench:start` / `bench:end` markers is rewritten from them. "Steps alone" is
the row's step count × the measured step time: what its README figure costs in train
steps, without start-up and evaluation (README's train time, beside it, has both).
"""

import json
import os
import re
import subprocess
import sys
import time

from absl import app, flags

from genlab import benchmark

_README = flags.DEFINE_string("readme", "README.md", "README whose table is rewritten")
_RECORDS = flags.DEFINE_string("records", "docs/bench.jsonl", "where the JSON records go")
_LOOP = flags.DEFINE_list("loop", ["ae.py", "vae.py", "dcgan.py"],
                          "configs whose whole loop is timed too")
_ONLY = flags.DEFINE_string("only", "", "only configs containing this (a partial run)")
_START, _END = "<!-- bench:start -->", "<!-- bench:end -->"
_ROW = re.compile(r"^\| `([^`]+)` \| `python -m experiments.main --config=experiments/configs/"
                  r"(\S+) --workdir=DIR` \| (\d+) \| ([\d,]+) s")


def readme_rows(text: str) -> list[tuple[str, int, float]]:
  """(config arg, steps, README train time s) of each trained row of the config table."""
  rows = []
  for line in text.splitlines():
    m = _ROW.match(line)
    if m and not re.search(r"ring8|grid25", m.group(2)):  # 2-D toy data: not images
      rows.append((m.group(2), int(m.group(3)), float(m.group(4).replace(",", ""))))
  return rows


def _benchmark(config: str, *flags_: str) -> dict:
  cmd = [sys.executable, "-m", "experiments.benchmark",
         f"--config=experiments/configs/{config}", *flags_]
  out = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if out.returncode:
    return {"config": config, "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
  return json.loads(out.stdout.strip().splitlines()[-1])


def _smoke_arg(config: str) -> str:
  name, _, args = config.partition(":")
  return f"{name}:{args},smoke" if args else f"{name}:smoke"


def measure(rows, loop: set) -> list[dict]:
  records = []
  for config, steps, readme_s in rows:
    # About 3 s of timed steps: the README's time per step sets how many.
    timed = max(10, min(500, int(3.0 / (readme_s / steps))))
    looped = config in loop
    rec = _benchmark(config, f"--steps={timed}", *([] if looped else ["--loop_steps=0"]))
    smoke = _benchmark(_smoke_arg(config), "--steps=5", "--loop_steps=0")
    rec.update(readme_steps=steps, readme_train_s=readme_s,
               smoke_compile_s=smoke.get("compile_s"), smoke_error=smoke.get("error"))
    records.append(rec)
    print(json.dumps(rec), flush=True)
  return records


def _cell(value, fmt="{:,.0f}"):
  return "–" if value is None else fmt.format(value)


def table(records: list[dict], machine: str, source: str = "docs/bench.jsonl") -> str:
  lines = [f"Measured by `make bench` ({machine}); records: [{source}]({source}).", "",
           "| config | batch | step | images/s | peak fraction | loop efficiency | compile "
           "(smoke) | steps alone (README steps) | README train time |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in records:
    if "error" in r:
      lines.append(f"| `{r['config']}` | failed: {r['error']} |||||||")
      continue
    alone = r["step_ms"] * r["readme_steps"] / 1000
    lines.append(
        f"| `{r['config'].removeprefix('experiments/configs/')}` | {r['batch_size']} | "
        f"{r['step_ms']:.3g} ms | {_cell(r['images_per_s'])} | {r['peak_fraction']:.2f} | "
        f"{_cell(r.get('pipeline_efficiency'), '{:.2f}')} | {r['compile_s']:.1f} s "
        f"({_cell(r.get('smoke_compile_s'), '{:.1f} s')}) | {alone:,.0f} s "
        f"({r['readme_steps']:,}) | {r['readme_train_s']:,.0f} s |")
  return "\n".join(lines)


def main(argv):
  del argv
  with open(_README.value) as f:
    text = f.read()
  if _START not in text or _END not in text:
    raise SystemExit(f"{_README.value} has no {_START} … {_END} section")
  rows = [r for r in readme_rows(text) if _ONLY.value in r[0]]
  machine = f"{benchmark.cpu_description()}, {time.strftime('%Y-%m-%d', time.gmtime())}"
  records = measure(rows, set(_LOOP.value))
  os.makedirs(os.path.dirname(_RECORDS.value) or ".", exist_ok=True)
  with open(_RECORDS.value, "w") as f:
    for r in records:
      f.write(json.dumps({**r, "machine": machine}) + "\n")
  if _ONLY.value:
    return  # a partial run does not replace the table
  head, rest = text.split(_START, 1)
  _, tail = rest.split(_END, 1)
  with open(_README.value, "w") as f:
    f.write(f"{head}{_START}\n{table(records, machine, _RECORDS.value)}\n{_END}{tail}")


if __name__ == "__main__":
  app.run(main)
