"""The summary's table: per-seed scores of each model → mean ± std, stability, markdown.

Pure: it reads the per-run score dicts that experiments.compare measured and never
trains or restores anything.
"""

from __future__ import annotations

import math

import numpy as np

# (column title, score key, digits): the summary's columns, in order.
COLUMNS = (
    ("test MSE", "test/mse", 5),
    ("PSNR (dB)", "test/psnr", 2),
    ("dFID ↓", "samples/dfid", 1),
    ("precision", "samples/precision", 3),
    ("recall", "samples/recall", 3),
    ("class entropy", "samples/class_entropy", 3),
    ("sharpness", "samples/sharpness", 2),
    ("−ELBO (nats)", "test/neg_elbo", 1),
    ("PPL", "samples/ppl", 0),
    ("PPL / straight", "samples/ppl_ratio", 2),
    ("probe acc@10", "probe/acc_10", 3),
    ("anomaly AUROC", "anomaly/auroc", 3),
    ("train time (s)", "cost/train_seconds", 0),
    ("images/s", "cost/images_per_s", 0),
)


def mean_std(values: list[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (ddof = 1; 0 for one value)."""
  v = np.asarray(values, np.float64)
  return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def aggregate(runs: dict[str, dict], fail_dfid: float) -> dict:
  """One model's seeds → {'mean', 'std', 'n', 'stability'}.

  Args:
    runs: {seed name: scores} of the finished seeds; a seed whose run crashed has
      {'failed': error line}.
    fail_dfid: a seed whose dFID exceeds it counts as failed.
  """
  ok = {k: v for k, v in runs.items() if "failed" not in v}
  keys = sorted({k for v in ok.values() for k, x in v.items()
                 if isinstance(x, (int, float)) and not isinstance(x, bool)})
  mean, std, n = {}, {}, {}
  for key in keys:
    values = [v[key] for v in ok.values() if key in v and math.isfinite(v[key])]
    if values:
      mean[key], std[key] = mean_std(values)
      n[key] = len(values)
  dfids = [v["samples/dfid"] for v in ok.values() if "samples/dfid" in v]
  stability = {
      "seeds": len(runs),
      "crashed": len(runs) - len(ok),
      "alarmed": sum(v.get("health/alarms", 0) > 0 for v in ok.values()),
      "failed": (len(runs) - len(ok)) + sum(not d <= fail_dfid for d in dfids),
      "fail_dfid": fail_dfid,
  }
  if dfids:
    stability["dfid_min"], stability["dfid_max"] = float(min(dfids)), float(max(dfids))
    stability["dfid_std"] = mean_std(dfids)[1]
  return {"mean": mean, "std": std, "n": n, "stability": stability}


def _fmt(x: float, digits: int) -> str:
  if digits == 0:
    return f"{x:,.0f}"
  return f"{x:.{digits}f}"


def cell(summary: dict, key: str, digits: int) -> str:
  """'mean ± std' of one key, or '–' when the model has no such number."""
  if key not in summary["mean"]:
    return "–"
  m, s = summary["mean"][key], summary["std"][key]
  return _fmt(m, digits) if summary["n"][key] == 1 else f"{_fmt(m, digits)} ± {_fmt(s, digits)}"


def stability_cell(stab: dict) -> str:
  """'dFID spread; alarms a/n; failed f/n'."""
  spread = (f"{stab['dfid_min']:.0f}–{stab['dfid_max']:.0f}" if "dfid_min" in stab else "–")
  return (f"{spread}; alarms {stab['alarmed']}/{stab['seeds']}; "
          f"failed {stab['failed']}/{stab['seeds']}")


def markdown(models: dict[str, dict]) -> str:
  """The summary table, one row per model: {name: {'label', 'steps', 'batch', 'summary'}}."""
  head = ["model", "steps × batch", *[c[0] for c in COLUMNS],
          "stability: dFID range; seeds with alarms; failed"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for model in models.values():
    s = model["summary"]
    row = [model["label"], f"{model['steps']:,} × {model['batch']}",
           *[cell(s, key, digits) for _, key, digits in COLUMNS],
           stability_cell(s["stability"])]
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines)
