"""Draws the first rows of a dataset split as a PNG: one row of images per image field.

  python -m experiments.show_data --name=NAME --out=FILE.png [--num=8] [--split=test]

A 'labelled' set gives one row (image), a 'paired' set two (source over target, so a
column is one pair) and an 'unpaired' set two (a over b, arbitrary partners). Each row is
titled with its field, each image with its class where the set has one. The figures of
docs/figures/data_*.png are made with it.
"""

import numpy as np
from absl import flags

from experiments import cli
from genlab import data
from genlab.errors import UserError
from genlab.evaluation import figures

_NAME = flags.DEFINE_string("name", None, "a genlab dataset name (or tfds:NAME, prepared)")
_OUT = flags.DEFINE_string("out", None, "output .png path")
_NUM = flags.DEFINE_integer("num", 8, "number of rows of the split to draw", lower_bound=1)
_SPLIT = flags.DEFINE_string("split", "test", "split to draw from")
flags.mark_flags_as_required(["name", "out"])

# The label shown under an image field, where the layout has one.
_LABEL_OF = {"image": "label", "source": "label", "target": "label", "a": "a_label",
             "b": "b_label"}


def _image_fields(info: dict) -> list[str]:
  """Fields holding uint8 HxWxC images, in layout order."""
  return [name for name, spec in info["fields"].items()
          if spec["dtype"] == "uint8" and spec["shape"] is not None and len(spec["shape"]) == 3]


def show(name: str, out: str, num: int = 8, split: str = "test") -> str:
  """Writes the first `num` records of `split` of dataset `name` as a grid to `out`.

  Args:
    name: as for `genlab.data.get_source`.
    out: the .png path to write.
    num: how many records (columns); fewer if the split is smaller.
    split: the split to read.

  Returns:
    `out`.
  """
  if not out.endswith(".png"):
    raise UserError(f"--out must end in .png, got {out!r}")
  info = data.dataset_info(name)
  fields = _image_fields(info)
  if not fields:
    raise UserError(f"dataset {name!r} holds no images to draw ({info['modality']})")
  source = data.get_source(name, split)
  # Records one by one: a figure needs a few, not the whole split in memory.
  records = [source[i] for i in range(min(num, len(source)))]
  plt = figures.pyplot()
  size = 1.1  # inches per image: big enough to read a 28x28 digit and its label
  fig, axes = plt.subplots(len(fields), len(records), squeeze=False,
                           figsize=(size * len(records) + 0.8, size * len(fields) + 0.3))
  for row, field in enumerate(fields):
    label = _LABEL_OF.get(field)
    for col, record in enumerate(records):
      ax = axes[row, col]
      image = np.asarray(record[field])
      if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
      else:
        ax.imshow(image, interpolation="nearest")
      ax.set_xticks([])
      ax.set_yticks([])
      if label in record and int(record[label]) >= 0:  # unlabelled sets hold -1
        ax.set_title(str(int(record[label])), fontsize=8, pad=2)
    # An axis label rather than ax.axis("off"), which would hide it as well.
    axes[row, 0].set_ylabel(field, fontsize=10)
  fig.suptitle(f"{name} ({split}, first {len(records)})", fontsize=10)
  fig.tight_layout()
  fig.savefig(out, dpi=100)
  plt.close(fig)
  return out


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  path = show(_NAME.value, _OUT.value, _NUM.value, _SPLIT.value)
  print(f"wrote {path}")


if __name__ == "__main__":
  cli.run_main(main)
