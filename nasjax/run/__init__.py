"""The runs: the search loop, reading a finished search back, its read-outs, the study.

* :mod:`nasjax.run.search` -- the search loop (``python -m nasjax.search``);
* :mod:`nasjax.run.search_log` -- a search's records and results;
* :mod:`nasjax.run.records` -- metrics, alpha history and genotypes in the workdir;
* :mod:`nasjax.run.safety` -- the recorded config, NaN checks, Ctrl-C;
* :mod:`nasjax.run.restore` -- a finished search read back, and continued;
* :mod:`nasjax.run.select`, :mod:`nasjax.run.single_stage` -- the read-outs
  (``python -m nasjax.select``);
* :mod:`nasjax.run.retrain` -- the training loop retraining shares;
* :mod:`nasjax.run.reproduce`, :mod:`nasjax.run.report` -- methods x seeds,
  and their results table (``python -m nasjax.reproduce``).

The command modules (``nasjax.search``, ``nasjax.select``, ...) parse the
command line and call these; the names a notebook needs are in :mod:`nasjax`.
This package's ``__init__`` imports none of its modules: the measurements of
:mod:`nasjax.analysis` that the loop takes read the run's record files.
"""
