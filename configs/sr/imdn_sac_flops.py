"""SAC-DARTS with the FLOPs constraint on the IMDN space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr_search_config` (L1 loss; Adam for the
weights and alpha; DIV2K patches; the search length and weight learning rate
are defaults chosen here) plus SAC as ``imdn_sac.py`` plus the FLOPs-constrained
alpha loss lambda * sum_e sum_o p_eo * GMAC(o), each candidate's multiply-adds
counted at a 1280x720 output (lambda = 1e-3 per GMAC, a default chosen here).

Variants: ``x3``, ``x4`` (scale), ``runlocal`` (a few steps on Set14 patches,
evaluated on Set5 crops).

Launch:
  python -m nasjax.search --config=configs/sr/imdn_sac_flops.py --workdir=runs/sr_imdn_sac_flops
  python -m nasjax.search --config=configs/sr/imdn_sac_flops.py:runlocal \\
      --workdir=/tmp/sr_imdn_sac_flops
"""

from nasjax.config import parse_variants, sr_search_config
from nasjax.config.sr import runlocal


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "x3", "x4"))
  scale = 3 if "x3" in variants else 4 if "x4" in variants else 2
  # The x``scale`` SR data (DIV2K through tensorflow-datasets) and the imdn space's block.
  config = sr_search_config("imdn", scale)
  # The IMDN space: 6 information multi-distillation blocks of 64 features (16 split off per
  # step), their four 3x3 convolutions mixed over the 12 candidates; one alpha for all blocks.
  config.space.update(features=64, num_blocks=6, distill=16, share_alpha=True, partial_channels=4)
  # 20 epochs of 1000 steps, 16 HR patches of 96 pixels per half (defaults chosen here).
  config.epochs = 20
  config.batch_size = 16
  config.hypergradient = "first_order"
  # Weights: Adam (0.9, 0.999), lr 5e-4 cosine to 1e-5, no decay, no clipping (chosen here).
  config.optimizer.weights.update(
    name="adam", lr=5e-4, lr_min=1e-5, b1=0.9, b2=0.999, weight_decay=0.0, grad_clip=0.0
  )
  # Alpha: Adam lr 3e-4, betas (0.5, 0.999), no L2 (SA runs switch it off).
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=0.0)
  # SA (Eq. 8) on alpha's logits, a=1, mu=0; lambda_t = epoch / 5 (0.2 per epoch from 0).
  config.regularizers.sa.update(
    enabled=True,
    schedule="slope",
    start=0.0,
    slope=0.2,
    strength=0.0,
    ramp_epochs=0,
    a=1.0,
    mu=0.0,
    apply_to="logits",
    reduction="sum",
  )
  # The FLOPs constraint: 1e-3 * sum_e sum_o p_eo * GMAC(o) at a 1280x720 output (chosen here).
  config.regularizers.flops.update(enabled=True, schedule="constant", strength=1e-3)
  if "runlocal" in variants:  # a few steps on Set14 patches, evaluated on Set5 crops
    runlocal(config)
  return config
