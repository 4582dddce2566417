"""Type stub of khipu.core: the public API, imported lazily (see __init__.py)."""

from .__about__ import (
    __version__ as __version__,
)
from .checkpoint import (
    load_checkpoint as load_checkpoint,
)
from .checkpoint import (
    read_metadata as read_metadata,
)
from .checkpoint import (
    save_checkpoint as save_checkpoint,
)
from .data import (
    Splits as Splits,
)
from .data import (
    available_datasets as available_datasets,
)
from .data import (
    batches as batches,
)
from .data import (
    load_dataset as load_dataset,
)
from .data import (
    load_digits as load_digits,
)
from .data import (
    load_tfds_images as load_tfds_images,
)
from .data import (
    load_tfds_split as load_tfds_split,
)
from .data import (
    num_batches as num_batches,
)
from .data import (
    num_examples as num_examples,
)
from .data import (
    register_dataset as register_dataset,
)
from .data import (
    split_arrays as split_arrays,
)
from .errors import (
    CheckpointError as CheckpointError,
)
from .errors import (
    DatasetNotAvailableError as DatasetNotAvailableError,
)
from .errors import (
    KhipuError as KhipuError,
)
from .errors import (
    MissingDependencyError as MissingDependencyError,
)
from .errors import (
    NonFiniteLossError as NonFiniteLossError,
)
from .errors import (
    UnknownNameError as UnknownNameError,
)
from .errors import (
    import_optional as import_optional,
)
from .parallel import (
    data_mesh as data_mesh,
)
from .parallel import (
    initialize_distributed as initialize_distributed,
)
from .parallel import (
    replicate as replicate,
)
from .parallel import (
    shard_batch as shard_batch,
)
from .params import (
    parameter_counts as parameter_counts,
)
from .params import (
    total_parameters as total_parameters,
)
from .plotting import (
    new_figure as new_figure,
)
from .plotting import (
    plot_bars as plot_bars,
)
from .plotting import (
    plot_image_grid as plot_image_grid,
)
from .plotting import (
    plot_learning_curves as plot_learning_curves,
)
from .plotting import (
    save_figure as save_figure,
)
from .random import (
    KeySequence as KeySequence,
)
from .random import (
    as_key as as_key,
)
from .random import (
    numpy_rng as numpy_rng,
)
from .rundir import (
    atomic_write_bytes as atomic_write_bytes,
)
from .rundir import (
    package_versions as package_versions,
)
from .rundir import (
    prepare_run_dir as prepare_run_dir,
)
from .rundir import (
    read_json as read_json,
)
from .rundir import (
    write_config as write_config,
)
from .rundir import (
    write_json as write_json,
)
from .rundir import (
    write_metrics as write_metrics,
)
from .timing import (
    time_call as time_call,
)
from .train import (
    FitResult as FitResult,
)
from .train import (
    TrainState as TrainState,
)
from .train import (
    evaluate as evaluate,
)
from .train import (
    fit as fit,
)
from .train import (
    history_columns as history_columns,
)
from .train import (
    init_train_state as init_train_state,
)
from .train import (
    make_eval_step as make_eval_step,
)
from .train import (
    make_train_step as make_train_step,
)
