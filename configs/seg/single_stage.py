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

from nasjax.config import parse_variants, select_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = select_config()
  # The same weights fine-tuned on the whole training set for 20 epochs (a default chosen here),
  # lr 0.025 cosine to 0.001 (the search's); transitions and ops whose frozen weight is below
  # 0.01 removed first (a default chosen here; 0 keeps every path).
  config.single_stage.update(
    epochs=20, lr=0.025, lr_min=0.001, both_halves=True, prune_threshold=0.01
  )
  config.eval.batch_size = 2
  if "runlocal" in variants:
    config.single_stage.epochs = 2
    config.eval.batch_size = 4
    config.log_every_steps = 3
    config.checkpoint.async_save = False
  return config
