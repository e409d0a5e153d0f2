"""What the environment held when the process started, before jax's import changed it.

jax sets ``TF_CPP_MIN_LOG_LEVEL`` (XLA's C++ log level) to a default of its
own when it is imported; the command line keeps a level the user chose and
otherwise hides XLA's log lines (:func:`nasjax.cli.quiet_native_logging`).
``nasjax/__init__.py`` imports this module before anything that imports jax.
"""

import os

#: ``TF_CPP_MIN_LOG_LEVEL`` as the process started (None: unset).
NATIVE_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
