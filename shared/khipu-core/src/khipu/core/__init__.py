"""khipu.core: the JAX utilities shared by the Khipu practicals.

PRNG key sequences, a ``TrainState`` pytree with a jitted step builder and
``fit()``, data-parallel sharding, seeded minibatches and offline datasets,
atomic checkpoints, run folders, PNG figures and the ``khipu`` command.
"""

from khipu.core.__about__ import __version__
from khipu.core.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from khipu.core.data import (
    Splits,
    available_datasets,
    batches,
    load_dataset,
    load_digits,
    load_tfds_images,
    load_tfds_split,
    num_batches,
    num_examples,
    register_dataset,
    split_arrays,
)
from khipu.core.errors import (
    CheckpointError,
    DatasetNotAvailableError,
    KhipuError,
    MissingDependencyError,
    NonFiniteLossError,
    UnknownNameError,
    import_optional,
)
from khipu.core.parallel import data_mesh, initialize_distributed, replicate, shard_batch
from khipu.core.params import parameter_counts, total_parameters
from khipu.core.plotting import (
    new_figure,
    plot_bars,
    plot_image_grid,
    plot_learning_curves,
    save_figure,
)
from khipu.core.random import KeySequence, as_key, numpy_rng
from khipu.core.rundir import (
    package_versions,
    prepare_run_dir,
    read_json,
    write_config,
    write_json,
    write_metrics,
)
from khipu.core.timing import time_call
from khipu.core.train import (
    FitResult,
    TrainState,
    evaluate,
    fit,
    history_columns,
    init_train_state,
    make_eval_step,
    make_train_step,
)

__all__ = [
    "CheckpointError",
    "DatasetNotAvailableError",
    "FitResult",
    "KeySequence",
    "KhipuError",
    "MissingDependencyError",
    "NonFiniteLossError",
    "Splits",
    "TrainState",
    "UnknownNameError",
    "__version__",
    "as_key",
    "available_datasets",
    "batches",
    "data_mesh",
    "evaluate",
    "fit",
    "history_columns",
    "import_optional",
    "init_train_state",
    "initialize_distributed",
    "load_checkpoint",
    "load_dataset",
    "load_digits",
    "load_tfds_images",
    "load_tfds_split",
    "make_eval_step",
    "make_train_step",
    "new_figure",
    "num_batches",
    "num_examples",
    "numpy_rng",
    "package_versions",
    "parameter_counts",
    "plot_bars",
    "plot_image_grid",
    "plot_learning_curves",
    "prepare_run_dir",
    "read_json",
    "read_metadata",
    "register_dataset",
    "replicate",
    "save_checkpoint",
    "save_figure",
    "shard_batch",
    "split_arrays",
    "time_call",
    "total_parameters",
    "write_config",
    "write_json",
    "write_metrics",
]
