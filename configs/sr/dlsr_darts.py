"""DARTS (first order) on the DLSR space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr.dlsr_protocol`, the settings of DLSR's public
code (L1 loss; Adam 5e-4 for the weights; Adam 3e-4, betas (0.5, 0.999) for
alpha from epoch 20 on; a quarter of the DIV2K training images trains alpha,
the rest the weights (the code: images 601-800 and 1-600); 64 HR patches of 192
pixels; 100 epochs of 1000 steps, a length chosen here) plus plain first-order
DARTS on both levels (cell ops and network connections): no regulariser.

Variants: ``x3``, ``x4`` (scale), ``runlocal`` (a few steps on Set14 patches,
evaluated on Set5 crops).

Launch:
  python -m nasjax.search --config=configs/sr/dlsr_darts.py --workdir=runs/sr_dlsr_darts
  python -m nasjax.search --config=configs/sr/dlsr_darts.py:runlocal \\
      --workdir=/tmp/sr_dlsr_darts
"""

from nasjax.config.sr import method_config


def get_config(arg=None):
  return method_config("dlsr", arg)
