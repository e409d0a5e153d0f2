r"""Retraining a DARTS genotype on ImageNet (DARTS' mobile setting).

Protocol (Liu et al. 2019, arXiv 1806.09055, Sec. 3.3 and A.2): the derived
cells in a 14-cell network of C=48 with an auxiliary head (loss weight 0.4)
and no drop path; 250 epochs, batch 128; SGD, momentum 0.9, lr 0.1 decayed
by 0.97 every epoch, weight decay 3e-5, gradient clipping 5, label smoothing
0.1; 224x224 random resized crops, horizontal flips and colour jitter
(brightness, contrast, saturation 0.4, hue 0.2); evaluation on the 224 centre
crop of the image resized to 256. DARTS-V2 in this setting has 4.7M
parameters (the paper reports 574M multiply-adds; nasjax.spaces.flops counts 530M,
see tests/test_darts_network.py) and a 26.7% top-1 error in the paper.

Data: tensorflow-datasets' imagenet2012, prepared once in the array_record
format from the manually downloaded archives (see nasjax.tasks.classification.imagenet):
  tfds build imagenet2012 --data_dir=DIR --manual_dir=M --file_format=array_record

Launch:
  python -m nasjax.retrain --config=configs/retrain/imagenet.py \
      --genotype=DARTS_V2 --workdir=runs/darts_v2_imagenet --config.data.data_dir=DIR
  python -m nasjax.retrain --config=configs/retrain/imagenet.py:runlocal \
      --genotype=DARTS_V2 --workdir=/tmp/retrain_imagenet --config.data.data_dir=DIR

``runlocal`` trains a C=8, 5-cell network for 2 epochs of 4 steps of batch 8
on the first 32 training images and evaluates on 16 validation images (a
check of the pipeline on a CPU, not a result).
"""

from nasjax.config import imagenet_protocol, parse_variants, retrain_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = imagenet_protocol(retrain_config())
  # 14 cells of C=48, auxiliary head (weight 0.4), no drop path.
  config.network.update(
    name="imagenet", channels=48, layers=14, auxiliary=True, aux_weight=0.4, drop_path_prob=0.0
  )
  # 250 epochs of batch 128; label smoothing 0.1.
  config.epochs = 250
  config.batch_size = 128
  config.label_smoothing = 0.1
  # SGD momentum 0.9, lr 0.1 decayed by 0.97 per epoch, wd 3e-5, clip 5.
  config.optimizer.update(
    lr=0.1, schedule="exponential", gamma=0.97, momentum=0.9, weight_decay=3e-5, grad_clip=5.0
  )
  if "runlocal" in variants:
    config.epochs = 2
    config.batch_size = 8
    config.network.update(channels=8, layers=5)
    config.data.update(train_limit=32, workers=2)
    config.eval.update(limit=16, batch_size=8)
    config.log_every_steps = 2
  return config
