"""Hyperparameter sweeps as data: lists of config overrides, their names and results.

A sweep is a list of points, each a dict {dotted config key: value} that
`experiments.sweep` applies as `--config.KEY=VALUE` overrides to one
`experiments.main` process per point, in ROOT/<point_name(point)>. A config file
builds its points in `sweep()` with `grid`, `zipped` or `random_search`; nothing here
runs anything, so a sweep can be checked before a single step trains.

The second half turns finished points into results: one row per point, sorted by the
sweep's metric, written as CSV, a markdown table and a plot (docs/sweeps.md).
"""

import dataclasses
import difflib
import hashlib
import itertools
import math
import re

import numpy as np

from genlab.errors import UserError

Point = dict  # {dotted config key: value}
_SCALARS = (bool, int, float, str)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# Point directories must stay well under a file system's 255-byte name limit.
_MAX_NAME = 120


# ------------------------------------------------------------------ building sweeps


@dataclasses.dataclass(frozen=True)
class Uniform:
  """A continuous axis of `random_search`: uniform in [lo, hi], or in log space."""

  lo: float
  hi: float
  log: bool = False

  def __post_init__(self):
    if not self.lo < self.hi:
      raise UserError(f"a random-search range needs lo < hi, got [{self.lo}, {self.hi}]")
    if self.log and self.lo <= 0:
      raise UserError(f"log_uniform needs lo > 0, got {self.lo}")

  def sample(self, rng: np.random.Generator) -> float:
    if self.log:
      return _round3(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))
    return _round3(rng.uniform(self.lo, self.hi))


def uniform(lo: float, hi: float) -> Uniform:
  """A random-search axis uniform in [lo, hi]."""
  return Uniform(float(lo), float(hi))


def log_uniform(lo: float, hi: float) -> Uniform:
  """A random-search axis uniform in log space over [lo, hi] (learning rates, weights)."""
  return Uniform(float(lo), float(hi), log=True)


def _round3(x: float) -> float:
  """x to 3 significant digits, so that point names stay short."""
  return float(f"{x:.3g}")


def _axes(axes: dict, what: str) -> dict:
  if not isinstance(axes, dict) or not axes:
    raise UserError(f"{what} needs a non-empty dict of axes, got {axes!r}")
  for key, values in axes.items():
    if isinstance(values, Uniform) and what == "random_search":
      continue
    if not isinstance(values, list) or not values:
      raise UserError(f"{what} axis {key!r} needs a non-empty list of values, got {values!r}")
  return axes


def grid(axes: dict[str, list]) -> list[Point]:
  """The cartesian product of the axes; the first key varies slowest.

  Args:
    axes: {dotted config key: list of values}.
  Returns:
    One point per combination, e.g. grid({'a': [1, 2], 'b': [3, 4]}) gives
    a1b3, a1b4, a2b3, a2b4.
  """
  keys = list(_axes(axes, "grid"))
  return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


def zipped(axes: dict[str, list]) -> list[Point]:
  """One point per index of equally long value lists (a "list" sweep).

  Args:
    axes: {dotted config key: list of values}, all of one length.
  Returns:
    [{key: values[i] for each key} for each i].
  """
  lengths = {len(v) for v in _axes(axes, "zipped").values()}
  if len(lengths) > 1:
    raise UserError(f"zipped needs equally long lists, got lengths "
                    f"{ {k: len(v) for k, v in axes.items()} }")
  return [dict(zip(axes, values)) for values in zip(*axes.values())]


def random_search(n: int, axes: dict, seed: int) -> list[Point]:
  """n distinct random points, the same for the same seed.

  Args:
    n: the number of points.
    axes: {dotted config key: a list (uniform choice) or uniform(lo, hi) /
      log_uniform(lo, hi)}. Continuous draws are rounded to 3 significant digits.
    seed: the draws' seed.
  Returns:
    n distinct points, in draw order.
  Raises:
    UserError: when the axes cannot give n distinct points.
  """
  _axes(axes, "random_search")
  rng = np.random.default_rng(seed)
  points, seen = [], set()
  for _ in range(max(100, 20 * n)):  # repeats are redrawn; a finite space runs out
    if len(points) == n:
      break
    point = {k: v.sample(rng) if isinstance(v, Uniform) else v[int(rng.integers(len(v)))]
             for k, v in axes.items()}
    if _identity(point) not in seen:
      seen.add(_identity(point))
      points.append(point)
  if len(points) < n:
    raise UserError(f"random_search found only {len(points)} distinct points of {n}")
  return points


# ------------------------------------------------------------------ names and checks


def format_value(value) -> str:
  """`value` as ml_collections parses it back from `--config.KEY=VALUE`.

  Strings go as they are (a str field takes the raw text), tuples as `(16,32)`,
  everything else as its repr.
  """
  if isinstance(value, str):
    return value
  if isinstance(value, tuple):
    inner = ",".join(repr(v) if isinstance(v, str) else format_value(v) for v in value)
    return f"({inner}{',' if len(value) == 1 else ''})"
  return repr(value)


def _name_value(value) -> str:
  if isinstance(value, tuple):
    return "_".join(_name_value(v) for v in value) if value else "empty"
  return _UNSAFE.sub("_", value if isinstance(value, str) else repr(value))


def point_name(overrides: Point) -> str:
  """A short, file-system-safe name for a point: its keys' last components and values.

  {'optim.learning_rate': 0.001, 'model.code_size': 16} -> 'code_size=16,learning_rate=0.001'.
  Keys whose last components clash (optim.g.learning_rate, optim.d.learning_rate) keep
  their full dotted key; entries are sorted. Only [A-Za-z0-9._=,-] characters appear;
  a name over 120 characters is cut and ends in a hash of the whole, to stay unique.

  Args:
    overrides: {dotted config key: value}.
  Returns:
    The name; 'default' for no overrides.
  """
  if not overrides:
    return "default"
  last = [k.rsplit(".", 1)[-1] for k in overrides]
  shown = [lk if last.count(lk) == 1 else k for k, lk in zip(overrides, last)]
  entries = sorted(zip(shown, overrides.values()), key=lambda e: e[0])
  name = ",".join(f"{_UNSAFE.sub('_', k)}={_name_value(v)}" for k, v in entries)
  if len(name) > _MAX_NAME:
    name = f"{name[:_MAX_NAME - 11]}-{hashlib.sha1(name.encode()).hexdigest()[:10]}"
  return name


def _check_value(value) -> bool:
  if isinstance(value, tuple):
    return all(_check_value(v) for v in value)
  return isinstance(value, _SCALARS)


def _identity(point: Point) -> tuple:
  # Typed, so 1, 1.0 and True are different points (as their names are).
  return tuple(sorted((k, type(v).__name__, repr(v)) for k, v in point.items()))


def validate(points) -> list[str]:
  """Checks a sweep and returns its point names, in order.

  Args:
    points: what a config file's sweep() returned.
  Returns:
    point_name of each point.
  Raises:
    UserError: not a non-empty list of dicts with dotted-string keys and bool, int,
      float, str or tuple values, or two points (or two names) the same.
  """
  if not isinstance(points, list) or not points:
    raise UserError(f"a sweep is a non-empty list of override dicts, got {type(points).__name__}"
                    f"{'' if points else ' (empty)'}")
  names, seen = [], {}
  for i, point in enumerate(points):
    if not isinstance(point, dict):
      raise UserError(f"sweep point {i} is a {type(point).__name__}, not a dict of overrides")
    for key, value in point.items():
      if not isinstance(key, str) or not re.fullmatch(r"\w+(\.\w+)*", key):
        raise UserError(f"sweep point {i}: key {key!r} is not a dotted config key")
      if not _check_value(value):
        raise UserError(f"sweep point {i}: {key}={value!r}: values are bool, int, float, "
                        f"str or tuples of them")
    identity = _identity(point)
    if identity in seen:
      raise UserError(f"sweep points {seen[identity]} and {i} are the same: {point}")
    seen[identity] = i
    name = point_name(point)
    if name in names:
      raise UserError(f"sweep points {names.index(name)} and {i} share the name {name!r}")
    names.append(name)
  return names


def apply_overrides(config, point: Point):
  """Sets a point's overrides on a (locked) config, as `--config.KEY=VALUE` would.

  Args:
    config: an ml_collections ConfigDict, changed in place.
    point: {dotted config key: value}.
  Raises:
    UserError: a key the config lacks, one naming a section rather than a field, or a
      value of the wrong type for its field.
  """
  for key, value in point.items():
    node, parts = config, key.split(".")
    for depth, part in enumerate(parts):
      if not hasattr(node, "keys") or part not in node:
        missing = ".".join(parts[:depth + 1])
        close = difflib.get_close_matches(part, list(node.keys()) if hasattr(node, "keys")
                                          else [], n=1)
        raise UserError(f"unknown config key {key!r}"
                        + (f" (no {missing!r})" if missing != key else "")
                        + (f"; did you mean {close[0]!r}?" if close else ""))
      if depth < len(parts) - 1:
        node = node[part]
    if hasattr(node[parts[-1]], "keys"):
      raise UserError(f"{key!r} is a config section, not a field")
    try:
      node[parts[-1]] = value
    except (TypeError, ValueError, AttributeError, KeyError) as e:
      raise UserError(f"{key}={value!r}: {e}") from None


def swept_keys(points: list[Point]) -> list[str]:
  """Every key of the sweep, in order of first appearance."""
  return list(dict.fromkeys(k for p in points for k in p))


# ------------------------------------------------------------------ results


@dataclasses.dataclass
class Row:
  """One point's line in the results: status 'ok', 'failed', 'unfinished' or 'pending'."""

  name: str
  overrides: Point
  status: str
  metrics: dict = dataclasses.field(default_factory=dict)
  error: str = ""


def metric_columns(rows: list[Row], metric: str | None) -> list[str]:
  """The sweep metric first, then every other test/* and samples/* scalar, sorted."""
  found = {k for r in rows for k in r.metrics if k.split("/")[0] in ("test", "samples")}
  return ([metric] if metric else []) + sorted(found - {metric})


def sort_rows(rows: list[Row], metric: tuple[str, str] | None) -> list[Row]:
  """Best first by (key, 'min' | 'max'); points without the metric, then failed, last.

  Without a metric the sweep's order is kept. The sort is stable.
  """
  if metric is None:
    return list(rows)
  key, mode = metric
  sign = 1.0 if mode == "min" else -1.0

  def rank(row):
    value = row.metrics.get(key)
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return (row.status == "failed", missing, 0.0 if missing else sign * value)
  return sorted(rows, key=rank)


def _cell(value) -> str:
  if value is None:
    return ""
  if isinstance(value, float):
    return f"{value:.4g}"
  return format_value(value)


def to_csv(rows: list[Row], keys: list[str], columns: list[str]) -> str:
  """name, status, each swept key, each metric (full precision), error."""
  import csv  # pylint: disable=import-outside-toplevel
  import io  # pylint: disable=import-outside-toplevel
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\n")
  writer.writerow(["name", "status", *keys, *columns, "error"])
  for r in rows:
    writer.writerow([r.name, r.status, *(format_value(r.overrides[k]) if k in r.overrides else ""
                                         for k in keys),
                     *(repr(r.metrics[c]) if c in r.metrics else "" for c in columns), r.error])
  return out.getvalue()


def to_markdown(rows: list[Row], keys: list[str], columns: list[str]) -> str:
  """The results as a markdown table, metrics to 4 significant digits."""
  header = ["name", "status", *keys, *columns]
  lines = ["| " + " | ".join(f"`{h}`" if h in keys or h in columns else h for h in header) + " |",
           "|" + "---|" * len(header)]
  for r in rows:
    cells = [f"`{r.name}`", r.status, *(_cell(r.overrides.get(k)) for k in keys),
             *(_cell(r.metrics.get(c)) for c in columns)]
    lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
  return "\n".join(lines) + "\n"


def plot(rows: list[Row], keys: list[str], metric: str, path: str) -> bool:
  """One panel per swept key: `metric` against that key, one line per setting of the others.

  A numeric key whose values are positive and span more than 10× gets a log x-axis;
  other keys (strings, tuples, booleans) are categories in sweep order.

  Args:
    rows: the results; only ok rows with the metric are drawn.
    keys: the swept keys (those no drawn row sets get no panel).
    metric: the y-axis.
    path: the PNG to write.
  Returns:
    Whether a plot was written (False when no row has the metric).
  """
  done = [r for r in rows if r.status == "ok" and isinstance(r.metrics.get(metric), (int, float))]
  keys = [k for k in keys if any(k in r.overrides for r in done)]
  if not keys:
    return False
  from genlab.evaluation import figures  # pylint: disable=import-outside-toplevel
  plt = figures.pyplot()
  fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
  for ax, key in zip(axes[0], keys):
    values = list(dict.fromkeys(r.overrides[key] for r in done if key in r.overrides))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    position = (lambda v: v) if numeric else values.index
    groups: dict = {}
    for r in done:
      if key in r.overrides:
        others = tuple((k, r.overrides.get(k)) for k in keys if k != key)
        groups.setdefault(others, []).append((position(r.overrides[key]), r.metrics[metric]))
    for others, pts in sorted(groups.items(), key=lambda g: repr(g[0])):
      pts.sort()
      label = ", ".join(f"{k.rsplit('.', 1)[-1]}={_cell(v)}" for k, v in others) or None
      ax.plot(*zip(*pts), "o-", label=label)
    if numeric and min(values) > 0 and max(values) > 10 * min(values) * (1 + 1e-9):
      ax.set_xscale("log")
    if not numeric or len(values) <= 8:  # ticks at the swept values themselves
      ax.set_xticks([position(v) for v in values], [_cell(v) for v in values])
      ax.minorticks_off()
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    if 1 < len(groups) <= 12:
      ax.legend(fontsize="small")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True
