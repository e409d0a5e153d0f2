"""SAC-DARTS (smooth activation + partial channels) on the IMDN space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr.sr_search_config` (L1 loss; Adam for the
weights and alpha; DIV2K patches; the search length and weight learning rate
are defaults chosen here) plus SA as ``imdn_sa.py`` plus partial channels K = 4:
each mixed op sees a quarter of its input channels, the rest bypass it (see
:mod:`nasjax.spaces.sr.ops`).

Variants: ``x3``, ``x4`` (scale), ``runlocal`` (a few steps on Set14 patches,
evaluated on Set5 crops).

Launch:
  python -m nasjax.search --config=configs/sr/imdn_sac.py --workdir=runs/sr_imdn_sac
  python -m nasjax.search --config=configs/sr/imdn_sac.py:runlocal \\
      --workdir=/tmp/sr_imdn_sac
"""

from nasjax.config.sr import method_config, sac


def get_config(arg=None):
  return method_config("imdn", arg, sac)
