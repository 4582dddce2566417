"""khipu.cnn: JAX, Optax, Haiku and convolutional networks.

The first Khipu practical as a package: JAX fundamentals (:mod:`khipu.cnn.basics`),
linear regression with any optax optimizer (:mod:`khipu.cnn.regression`),
Haiku CNNs (:mod:`khipu.cnn.models`) and their training with early stopping
(:mod:`khipu.cnn.train`, :func:`run_training`).
"""

from khipu.cnn.__about__ import __version__
from khipu.cnn.data import DEFAULT_DATASET, available_datasets, load_image_dataset
from khipu.cnn.models import (
    AlexNet,
    FullyConvNet,
    LeNet,
    Model,
    ModelSpec,
    ResidualBlock,
    available_models,
    build_model,
    check_images,
    first_layer_filters,
    layer_parameter_counts,
    max_pool,
    model_summary,
)
from khipu.cnn.optim import available_optimizers, make_optimizer
from khipu.cnn.plots import plot_confusion_matrix, plot_filters, plot_predictions
from khipu.cnn.regression import (
    fit_haiku_regression,
    fit_linear_regression,
    make_linear_data,
    minimize,
)
from khipu.cnn.runs import load_classifier, run_training, save_classifier
from khipu.cnn.train import (
    TrainResult,
    accuracy,
    confusion_matrix,
    cross_entropy,
    evaluate_classifier,
    init_train_state,
    make_eval_fn,
    make_loss_fn,
    predict_proba,
    train_classifier,
)

__all__ = [
    "DEFAULT_DATASET",
    "AlexNet",
    "FullyConvNet",
    "LeNet",
    "Model",
    "ModelSpec",
    "ResidualBlock",
    "TrainResult",
    "__version__",
    "accuracy",
    "available_datasets",
    "available_models",
    "available_optimizers",
    "build_model",
    "check_images",
    "confusion_matrix",
    "cross_entropy",
    "evaluate_classifier",
    "first_layer_filters",
    "fit_haiku_regression",
    "fit_linear_regression",
    "init_train_state",
    "layer_parameter_counts",
    "load_classifier",
    "load_image_dataset",
    "make_eval_fn",
    "make_linear_data",
    "make_loss_fn",
    "make_optimizer",
    "max_pool",
    "minimize",
    "model_summary",
    "plot_confusion_matrix",
    "plot_filters",
    "plot_predictions",
    "predict_proba",
    "run_training",
    "save_classifier",
    "train_classifier",
]
