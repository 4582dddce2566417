"""Type stub of khipu.cnn: the public API, imported lazily (see __init__.py)."""

from . import exercises as exercises
from .__about__ import (
    __version__ as __version__,
)
from .data import (
    DEFAULT_DATASET as DEFAULT_DATASET,
    SHAPES32_CLASSES as SHAPES32_CLASSES,
    available_datasets as available_datasets,
    load_image_dataset as load_image_dataset,
    load_shapes32 as load_shapes32,
    make_shapes32 as make_shapes32,
)
from .loop import (
    make_step as make_step,
    train_epoch as train_epoch,
)
from .models import (
    AlexNet as AlexNet,
    FullyConvNet as FullyConvNet,
    LeNet as LeNet,
    Model as Model,
    ModelSpec as ModelSpec,
    ResidualBlock as ResidualBlock,
    available_models as available_models,
    build_model as build_model,
    check_images as check_images,
    conv2d as conv2d,
    feature_maps as feature_maps,
    first_layer_filters as first_layer_filters,
    layer_parameter_counts as layer_parameter_counts,
    max_pool as max_pool,
    model_summary as model_summary,
    to_channels_first as to_channels_first,
)
from .optim import (
    available_optimizers as available_optimizers,
    make_optimizer as make_optimizer,
)
from .plots import (
    plot_confusion_matrix as plot_confusion_matrix,
    plot_feature_maps as plot_feature_maps,
    plot_filters as plot_filters,
    plot_parameter_growth as plot_parameter_growth,
    plot_predictions as plot_predictions,
    plot_sliding_kernel as plot_sliding_kernel,
)
from .regression import (
    fit_haiku_regression as fit_haiku_regression,
    fit_linear_regression as fit_linear_regression,
    make_linear_data as make_linear_data,
    minimize as minimize,
)
from .runs import (
    load_classifier as load_classifier,
    run_training as run_training,
    save_classifier as save_classifier,
)
from .train import (
    TrainResult as TrainResult,
    accuracy as accuracy,
    confusion_matrix as confusion_matrix,
    cross_entropy as cross_entropy,
    evaluate_classifier as evaluate_classifier,
    init_train_state as init_train_state,
    make_eval_fn as make_eval_fn,
    make_loss_fn as make_loss_fn,
    predict_proba as predict_proba,
    train_classifier as train_classifier,
)
