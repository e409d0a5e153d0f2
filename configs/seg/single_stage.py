"""The single-stage read-out of a segmentation search (``python -m nasjax.select``).

After the search, alpha and beta stay at their real values (no decoding);
transitions and cell ops whose frozen weight is below ``prune_threshold``
(0.01, a default chosen here; 0 keeps all) are removed, with the
multiply-adds saved reported; the same weights are fine-tuned for 20 epochs
(a default chosen here) on the whole training set at the search's learning
rate (0.025 cosine to 0.001), then evaluated: loss and pixel accuracy on the
validation batches, mIoU on the whole validation images. The network is
saved to ``select/single_stage/network`` (:func:`nasjax.load_network`).

Variants: ``runlocal`` (2 epochs).

Launch:
  python -m nasjax.select --config=configs/seg/single_stage.py --workdir=runs/seg_darts \\
      --method=single_stage
  python -m nasjax.select --config=configs/seg/single_stage.py:runlocal --workdir=/tmp/seg \\
      --method=single_stage
"""

from nasjax.config.seg import seg_select_config


def get_config(arg=None):
  return seg_select_config(arg)
