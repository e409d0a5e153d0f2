"""Beta-DARTS on the NAS-Bench-201 space (CIFAR-10).

Protocol: first-order DARTS with the beta-decay regulariser
``lambda_t * mean_e logsumexp(alpha_e)`` on alpha's logits, lambda_t rising
linearly from 0 as in Beta-DARTS' code (``50 * epoch / 100``: start 0,
strength 50 reached at epoch 100), over a 100-epoch search (the Beta-DARTS /
darts-PT / DrNAS NAS-Bench-201 length). Everything else as ``darts_1st.py``:
disjoint 50/50 split, batch 64, SGD Nesterov 0.025 cosine to 0.001, wd 5e-4,
clip 5; Adam 3e-4 (0.5, 0.999) with L2 1e-3 for alpha.

Launch:
  python -m nasjax.search --config=configs/nb201/beta_darts.py --workdir=runs/nb201_beta_darts
  python -m nasjax.search --config=configs/nb201/beta_darts.py:runlocal --workdir=/tmp/beta_darts
"""

from nasjax.config import nb201_protocol, parse_variants, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = nb201_protocol(search_config())
  config.epochs = 100
  config.regularizers.beta_decay.update(
    enabled=True, schedule="linear", start=0.0, strength=50.0, ramp_epochs=100, apply_to="logits"
  )
  if "runlocal" in variants:
    runlocal(config)
    config.regularizers.beta_decay.ramp_epochs = config.epochs  # reach full strength
  return config
