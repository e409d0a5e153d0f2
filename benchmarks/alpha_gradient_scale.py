"""How large and how noisy alpha's data gradient is, at paper scale and at the CPU scale.

The regularisers of alpha (SA's ``lambda_t * sum alpha``, Beta-DARTS'
``lambda_t * mean_e logsumexp``) add a gradient whose size is set by lambda_t
alone, while alpha's data gradient (the hypergradient of the validation loss)
depends on the supernet's width, depth, batch and data. Under Adam, what a
regulariser does depends on its gradient *relative* to the data gradient's
mean and noise per coordinate, so a reduced protocol that keeps the papers'
lambda_t must also keep that ratio, or rescale lambda_t by it.

For each scale this script trains the supernet with the real search step
(first order, the NAS-Bench-201 protocol) and, at a few points, holds the
state fixed and computes alpha's first-order gradient on ``--batches``
different validation batches of the real CIFAR-10 subset: per coordinate the
mean over batches (signal) and the standard deviation (noise). Printed per
point: the RMS over coordinates of the mean and of the noise, and their
ratio to the paper scale's.

Run (about 15 minutes on a 2-core CPU; the paper-scale supernet is the slow part):
  python benchmarks/alpha_gradient_scale.py --steps 0 100 200 --batches 16
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

SCALES = {
  # name: (channels, cells per stage, image size, batch)
  "paper": (16, 5, 32, 64),
  "cpu": (4, 5, 16, 32),
}


def _batches(x: np.ndarray, y: np.ndarray, batch: int, count: int, rng: np.random.Generator):
  from nasjax.tasks.classification.datasets import normalize

  for _ in range(count):
    idx = rng.choice(len(x), batch, replace=False)
    yield {"image": normalize(x[idx], "cifar10"), "label": y[idx].astype(np.int32)}


def measure(scale: str, steps: list[int], num_batches: int, seed: int) -> list[dict[str, float]]:
  from nasjax.config.protocols import nb201_protocol
  from nasjax.config.search import search_config
  from nasjax.core.setup import make_search_setup
  from nasjax.core.state import ForwardContext
  from nasjax.tasks.classification.datasets import downsample

  channels, cells, size, batch = SCALES[scale]
  config = nb201_protocol(search_config())
  config.space.update(channels=channels, cells_per_stage=cells)
  config.batch_size = batch
  path = os.path.join(os.environ.get("NASJAX_DATA_DIR", "../shared/data"), "cifar10_subset.npz")
  with np.load(path) as d:
    x, y = d["x_train"], d["y_train"]
  x = downsample(x, 32 // size)
  half = len(x) // 2  # weights train on the first half, gradients are taken on the second
  setup = make_search_setup(config, steps_per_epoch=half // batch)
  state = setup.init(jax.random.key(seed), x.shape[1:])
  step = jax.jit(setup.step)
  epoch = jnp.zeros((), jnp.int32)

  def alpha_grad(state, batch_):
    def loss(alphas):
      return setup.loss(
        state.params,
        alphas,
        batch_,
        ForwardContext(state.batch_stats, epoch=epoch, projection=state.projection),
        state.betas,
      )[0]

    return jax.grad(loss)(state.alphas)["cell"]

  grad_fn = jax.jit(alpha_grad)
  rng = np.random.default_rng(seed)
  train = _batches(x[:half], y[:half], batch, max(steps) + 1, rng)
  out, done = [], 0
  for target in sorted(steps):
    while done < target:
      tb, vb = next(train), next(_batches(x[half:], y[half:], batch, 1, rng))
      state, metrics = step(state, tb, vb)
      done += 1
    grads = np.stack(
      [np.asarray(grad_fn(state, b)) for b in _batches(x[half:], y[half:], batch, num_batches, rng)]
    )
    mean, noise = grads.mean(0), grads.std(0, ddof=1)
    out.append(
      {
        "scale": scale,
        "step": target,
        "signal_rms": float(np.sqrt(np.mean(mean**2))),
        "noise_rms": float(np.sqrt(np.mean(noise**2))),
        "train_acc": float(metrics["train/acc"]) if done else float("nan"),
      }
    )
    print(json.dumps(out[-1]), flush=True)
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--steps", type=int, nargs="+", default=[0, 100, 200])
  parser.add_argument("--batches", type=int, default=16)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
  args = parser.parse_args()
  rows = {s: measure(s, args.steps, args.batches, args.seed) for s in args.scales}
  print("\n| step | scale | signal RMS | noise RMS | signal / paper | noise / paper |")
  print("|---|---|---|---|---|---|")
  for i, target in enumerate(sorted(args.steps)):
    ref = rows.get("paper", rows[args.scales[0]])[i]
    for s in args.scales:
      r = rows[s][i]
      print(
        f"| {target} | {s} | {r['signal_rms']:.4f} | {r['noise_rms']:.4f} | "
        f"{r['signal_rms'] / ref['signal_rms']:.3f} | {r['noise_rms'] / ref['noise_rms']:.3f} |"
      )


if __name__ == "__main__":
  main()
