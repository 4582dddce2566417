"""Process 0 fails while process 1 waits in a collective (tests/test_multiprocess.py).

Run as two processes (``KHIPU_COORDINATOR``, ``KHIPU_NUM_PROCESSES=2``,
``KHIPU_PROCESS_ID``, one CPU device each): both meet at a barrier, then
process 1 enters a sum over both processes' devices that process 0 never
joins, and process 0's command raises a plain error (a bug, not a lost peer).
Process 1 must stop with khipu's one line naming process 0 and its error, not
be aborted by gloo when process 0's connections close.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from khipu.core import cli, distributed


def command(args: argparse.Namespace) -> int:
    del args
    distributed.barrier("started")
    if distributed.process_index() == 0:
        raise ValueError("the test's failure")
    mesh = Mesh(np.array(jax.devices()), ("d",))
    local = np.ones((len(jax.local_devices()), 4), np.float32)
    x = jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec("d")), local)
    jax.block_until_ready(jax.jit(jnp.sum)(x))
    return 0


def main() -> int:
    distributed.initialize()
    code = cli._run_command(command, argparse.Namespace())
    return cli._leave_run(code)


if __name__ == "__main__":
    raise SystemExit(main())
