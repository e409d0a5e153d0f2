"""SAC-DARTS (smooth activation + partial channels) on the DLSR space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr.dlsr_protocol`, the settings of DLSR's public
code (L1 loss; Adam 5e-4 for the weights; Adam 3e-4, betas (0.5, 0.999) for
alpha from epoch 20 on; a quarter of the DIV2K training images trains alpha,
the rest the weights (the code: images 601-800 and 1-600); 64 HR patches of 192
pixels; 100 epochs of 1000 steps, a length chosen here) plus SA as
``dlsr_sa.py`` plus partial channels K = 4 in the cell's mixed ops.

Variants: ``x3``, ``x4`` (scale), ``runlocal`` (a few steps on Set14 patches,
evaluated on Set5 crops).

Launch:
  python -m nasjax.search --config=configs/sr/dlsr_sac.py --workdir=runs/sr_dlsr_sac
  python -m nasjax.search --config=configs/sr/dlsr_sac.py:runlocal \\
      --workdir=/tmp/sr_dlsr_sac
"""

from nasjax.config.sr import method_config, sac


def get_config(arg=None):
  return method_config("dlsr", arg, sac)
