"""SAC-DARTS with the FLOPs constraint on the IMDN space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr.sr_search_config` (L1 loss; Adam for the
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

from nasjax.config.sr import flops, method_config, sac


def get_config(arg=None):
  return method_config("imdn", arg, sac, flops)
