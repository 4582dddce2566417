"""Type stub of khipu.core: the public API, imported lazily (see __init__.py)."""

from .__about__ import (
    __version__ as __version__,
)
from .checkpoint import (
    load_checkpoint as load_checkpoint,
    read_metadata as read_metadata,
    save_checkpoint as save_checkpoint,
)
from .data import (
    Splits as Splits,
    available_datasets as available_datasets,
    batches as batches,
    load_dataset as load_dataset,
    load_digits as load_digits,
    load_tfds_images as load_tfds_images,
    load_tfds_split as load_tfds_split,
    num_batches as num_batches,
    num_examples as num_examples,
    register_dataset as register_dataset,
    split_arrays as split_arrays,
)
from .errors import (
    CheckpointError as CheckpointError,
    DatasetNotAvailableError as DatasetNotAvailableError,
    KhipuError as KhipuError,
    MissingDependencyError as MissingDependencyError,
    NonFiniteLossError as NonFiniteLossError,
    UnknownNameError as UnknownNameError,
    import_optional as import_optional,
)
from .exercises import (
    Case as Case,
    Checker as Checker,
    CheckResult as CheckResult,
    Quiz as Quiz,
    choice_check as choice_check,
    function_check as function_check,
    value_check as value_check,
)
from .parallel import (
    data_mesh as data_mesh,
    initialize_distributed as initialize_distributed,
    replicate as replicate,
    shard_batch as shard_batch,
)
from .params import (
    parameter_counts as parameter_counts,
    total_parameters as total_parameters,
)
from .plotting import (
    enable_notebook_figures as enable_notebook_figures,
    figure_png as figure_png,
    new_figure as new_figure,
    plot_bars as plot_bars,
    plot_image_grid as plot_image_grid,
    plot_learning_curves as plot_learning_curves,
    plot_scaling as plot_scaling,
    save_figure as save_figure,
    save_scaling_report as save_scaling_report,
    scaling_report_paths as scaling_report_paths,
    show as show,
)
from .random import (
    KeySequence as KeySequence,
    as_key as as_key,
    numpy_rng as numpy_rng,
)
from .rundir import (
    atomic_write_bytes as atomic_write_bytes,
    package_versions as package_versions,
    prepare_run_dir as prepare_run_dir,
    read_json as read_json,
    write_config as write_config,
    write_json as write_json,
    write_metrics as write_metrics,
)
from .textfile import (
    check_input_file as check_input_file,
    check_utf8_file as check_utf8_file,
    decode_text as decode_text,
    read_lines as read_lines,
    read_text as read_text,
)
from .timing import (
    ScalingSweep as ScalingSweep,
    SweepCase as SweepCase,
    SweepPoint as SweepPoint,
    interleaved_medians as interleaved_medians,
    scaling_report as scaling_report,
    scaling_sweep as scaling_sweep,
    time_call as time_call,
)
from .train import (
    FitResult as FitResult,
    TrainState as TrainState,
    cache_micro_batches as cache_micro_batches,
    evaluate as evaluate,
    fit as fit,
    history_columns as history_columns,
    init_train_state as init_train_state,
    make_eval_step as make_eval_step,
    make_train_step as make_train_step,
)
