"""Run outputs: metrics.jsonl, TensorBoard events, PNG grids, a progress line."""

import json
import logging
import math
import os
import shutil
import sys
import time
from typing import Callable

import numpy as np
from PIL import Image

from genlab.errors import UserError


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 1) -> np.ndarray:
  """Tiles float images in [0, 1], NHWC, into one uint8 HxWxC grid."""
  images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
  n, h, w, c = images.shape
  ncol = ncol or int(math.ceil(math.sqrt(n)))
  nrow = int(math.ceil(n / ncol))
  grid = np.ones((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), np.float32)
  for i in range(n):
    r, q = divmod(i, ncol)
    grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = images[i]
  return (grid * 255).round().astype(np.uint8)


def save_png(path: str, grid: np.ndarray, scale: int = 2) -> None:
  """Writes a uint8 grid as PNG, nearest-upscaled so small digits stay legible."""
  img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
  img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(path)


def read_metrics(workdir: str) -> list[dict]:
  """Every record of `workdir/metrics.jsonl`, in order.

  A torn last line (a kill in mid-write) is dropped with one warning; the step it held
  is recomputed by the resumed run. Any other unreadable line is a UserError that names
  the file and the line.
  """
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = [(i, line) for i, line in enumerate(f, 1) if line.strip()]
  records = []
  for n, (i, line) in enumerate(lines):
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      if n < len(lines) - 1:
        raise UserError(f"{path} line {i} is not JSON; repair or delete the line") from None
      logging.warning("%s: dropped a torn last line (line %d), written when the run was "
                      "killed", path, i)
  return records


def _summary_writer():
  """tensorboardX's SummaryWriter (a TF-free event writer), imported without PyTorch.

  tensorboardX imports torch when it can, only to accept torch tensors: 1.8 s of every
  command's start-up wherever PyTorch is installed (measured 2026-12-03, torch 2.13).
  genlab logs floats and numpy arrays, so torch is hidden during the import unless
  something has imported it already.
  """
  hidden = "torch" not in sys.modules
  if hidden:
    sys.modules["torch"] = None  # `import torch` raises ImportError
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
  finally:
    if hidden:
      del sys.modules["torch"]
  return SummaryWriter


class MetricWriter:
  """Appends `split/name` scalars to metrics.jsonl and TensorBoard, images to samples/.

  On resume at step S, records after S (written before an interruption, and about
  to be recomputed) are dropped so every step appears once. In a multi-process run
  only process 0 writes: the others' writers are inactive and write nothing.
  """

  def __init__(self, workdir: str, resume_step: int = 0, active: bool = True):
    self.workdir = workdir
    self.active = active
    if not active:
      return
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    self._path = os.path.join(workdir, "metrics.jsonl")
    kept = [r for r in read_metrics(workdir) if r["step"] <= resume_step]
    # Rewritten whole and renamed: a kill during the rewrite leaves the old file intact.
    with open(self._path + ".tmp", "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(self._path + ".tmp", self._path)
    self._file = open(self._path, "a")
    SummaryWriter = _summary_writer()
    # purge_step makes TensorBoard drop events ≥ resume_step left by the interrupted run.
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                             purge_step=resume_step or None)

  def scalars(self, step: int, values: dict) -> None:
    if not self.active:
      return
    record = {"step": int(step), **{k: float(v) for k, v in values.items()}}
    self._file.write(json.dumps(record) + "\n")
    self._file.flush()
    for k, v in values.items():
      self._tb.add_scalar(k, float(v), step)

  def images(self, step: int, name: str, images: np.ndarray, ncol: int | None = None) -> str:
    """Saves a grid to samples/NAME_STEP.png and TensorBoard; returns the PNG path."""
    path = os.path.join(self.workdir, "samples", f"{name}_{step:07d}.png")
    if not self.active:
      return path
    grid = image_grid(images, ncol)
    save_png(path, grid)
    self._tb.add_image(name, grid, step, dataformats="HWC")
    return path

  def close(self) -> None:
    if not self.active:
      return
    self._file.close()
    self._tb.close()


class Progress:
  """A one-line progress bar with steps/s and ETA, on stderr."""

  def __init__(self, start: int, total: int):
    self.start, self.total = start, total
    self.t0 = time.perf_counter()
    self._tty = sys.stderr.isatty()

  def rate(self, step: int) -> float:
    return (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)

  def update(self, step: int, summary: str = "") -> None:
    rate = self.rate(step)
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    frac = step / max(self.total, 1)
    bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
    line = (f"[{bar}] {step}/{self.total} {rate:.1f} steps/s "
            f"ETA {eta:.0f}s {summary}")
    sys.stderr.write(("\r" + line + "\x1b[K") if self._tty else line + "\n")
    if step >= self.total and self._tty:
      sys.stderr.write("\n")
    sys.stderr.flush()


def _size(n: float) -> str:
  for unit in ("B", "kB", "MB", "GB", "TB"):
    if n < 1000 or unit == "TB":
      return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
    n /= 1000
  raise AssertionError


def write_in_chunks(path: str, draw: Callable[[int, int], np.ndarray], num: int,
                    chunk: int = 1000) -> tuple[int, ...]:
  """Writes `num` samples to the .npy file `path`, `chunk` at a time.

  Args:
    path: the output file, replaced only once all samples are written.
    draw: draw(n, i) -> [n, ...] samples, draw i of the run (n = min(num, chunk) every
      time, so that each draw has one shape; the last one is cut to size).
    num: samples in all.
    chunk: samples per draw.

  Returns:
    The shape written. A one-line UserError, before the file is created, when it would
    not fit on its disk, or when writing it fails.
  """
  n = min(num, chunk)
  first = np.asarray(draw(n, 0), np.float32)
  shape = (num, *first.shape[1:])
  need = num * first[0].nbytes
  free = shutil.disk_usage(os.path.dirname(path) or ".").free
  if need > free:
    raise UserError(
        f"--num {num}: {num:,} samples of shape {first.shape[1:]} take {_size(need)}, more "
        f"than the {_size(free)} free for {path!r}; ask for fewer (they are drawn and "
        f"written {chunk:,} at a time, so only disk space limits --num)")
  partial = path + ".partial"
  try:
    with open(partial, "wb") as f:
      np.lib.format.write_array_header_1_0(
          f, {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False,
              "shape": shape})
      f.write(first.tobytes())
      for i, start in enumerate(range(n, num, n), start=1):
        part = np.asarray(draw(n, i), np.float32)[:num - start]
        f.write(part.tobytes())
    os.replace(partial, path)
  except OSError as e:  # the disk filled up meanwhile, the directory vanished, ...
    raise UserError(f"could not write {path!r}: {e.strerror or e}") from e
  finally:
    if os.path.exists(partial):
      os.remove(partial)
  return shape
