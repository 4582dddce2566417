"""One multi-process ``fit()`` for tests/test_multiprocess.py's stress test.

Run as ``khipu launch -n 2 --devices-per-process 2 -- python multiprocess_fit.py OUT``:
a linear model, 128 steps in one epoch (past the ~32 queued steps that used to
deadlock), a checkpoint in OUT; prints the final parameters' checksum.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.core import distributed


def loss_fn(params, model_state, key, batch):  # type: ignore[no-untyped-def]
    del key
    pred = batch["x"] @ params["w"] + params["b"]
    loss = jnp.mean((pred - batch["y"]) ** 2)
    return loss, (model_state, {})


def main() -> int:
    distributed.initialize()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 8)).astype(np.float32)
    y = (x @ rng.normal(size=8).astype(np.float32) + 0.5).astype(np.float32)
    opt = optax.sgd(0.05)
    state = kc.init_train_state({"w": jnp.zeros(8), "b": jnp.zeros(())}, opt, key=0)
    result = kc.fit(
        state,
        kc.make_train_step(loss_fn, opt),
        {"x": x, "y": y},
        batch_size=8,
        epochs=1,
        progress=False,
        checkpoint_dir=sys.argv[1],
    )
    params = jax.device_get(result.state.params)
    print(f"{float(np.sum(params['w'])):.9f} {float(params['b']):.9f}")
    return distributed.finish(0)


if __name__ == "__main__":
    raise SystemExit(main())
