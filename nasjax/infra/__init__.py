"""Running at scale and safely: checkpoints, the device mesh, processes, seeds, compiles.

* :mod:`nasjax.infra.checkpoint` -- orbax checkpoints that resume bit-identically;
* :mod:`nasjax.infra.parallel` -- the 1-D ``data`` mesh: replicated state, split batches;
* :mod:`nasjax.infra.distributed` -- joining a multi-process run;
* :mod:`nasjax.infra.seeds` -- K seeds as one program;
* :mod:`nasjax.infra.fused` -- several steps per host call;
* :mod:`nasjax.infra.compilation` -- cheap one-off compiles, the persistent cache;
* :mod:`nasjax.infra.host_memory` -- huge pages for the host allocator;
* :mod:`nasjax.infra.jsonfiles` -- JSON files written atomically.
"""

from nasjax.infra.checkpoint import Checkpointer, CheckpointError
from nasjax.infra.compilation import enable_compilation_cache, init_variables

__all__ = ["CheckpointError", "Checkpointer", "enable_compilation_cache", "init_variables"]
