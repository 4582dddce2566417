"""Process 0 fails while process 1 waits in a collective (tests/test_multiprocess.py).

Run as two processes (``KHIPU_COORDINATOR``, ``KHIPU_NUM_PROCESSES=2``,
``KHIPU_PROCESS_ID``, one CPU device each): both meet at a barrier, then
process 1 enters a sum over both processes' devices that process 0 never
joins, and process 0 fails. Process 1 must stop with khipu's one line naming
process 0, not be aborted by gloo when process 0's connections close.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from khipu.core import distributed


def main() -> int:
    index, _ = distributed.initialize()
    distributed.barrier("started")
    if index == 0:
        print("khipu: error: the test's failure", file=sys.stderr)
        return distributed.finish(1, "the test's failure")
    mesh = Mesh(np.array(jax.devices()), ("d",))
    local = np.ones((len(jax.local_devices()), 4), np.float32)
    x = jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec("d")), local)
    try:
        total = jax.jit(jnp.sum)(x)
        jax.block_until_ready(total)
    except KeyboardInterrupt:  # the watchdog's stop, should the collective ever return
        print(f"khipu: error: {distributed.failure()}", file=sys.stderr)
        return distributed.finish(1)
    return distributed.finish(0)


if __name__ == "__main__":
    raise SystemExit(main())
