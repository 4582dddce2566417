"""Type stub of khipu.cnn: the public API, imported lazily (see __init__.py)."""

from .__about__ import (
    __version__ as __version__,
)
from .data import (
    DEFAULT_DATASET as DEFAULT_DATASET,
)
from .data import (
    available_datasets as available_datasets,
)
from .data import (
    load_image_dataset as load_image_dataset,
)
from .models import (
    AlexNet as AlexNet,
)
from .models import (
    FullyConvNet as FullyConvNet,
)
from .models import (
    LeNet as LeNet,
)
from .models import (
    Model as Model,
)
from .models import (
    ModelSpec as ModelSpec,
)
from .models import (
    ResidualBlock as ResidualBlock,
)
from .models import (
    available_models as available_models,
)
from .models import (
    build_model as build_model,
)
from .models import (
    check_images as check_images,
)
from .models import (
    first_layer_filters as first_layer_filters,
)
from .models import (
    layer_parameter_counts as layer_parameter_counts,
)
from .models import (
    max_pool as max_pool,
)
from .models import (
    model_summary as model_summary,
)
from .optim import (
    available_optimizers as available_optimizers,
)
from .optim import (
    make_optimizer as make_optimizer,
)
from .plots import (
    plot_confusion_matrix as plot_confusion_matrix,
)
from .plots import (
    plot_filters as plot_filters,
)
from .plots import (
    plot_predictions as plot_predictions,
)
from .regression import (
    fit_haiku_regression as fit_haiku_regression,
)
from .regression import (
    fit_linear_regression as fit_linear_regression,
)
from .regression import (
    make_linear_data as make_linear_data,
)
from .regression import (
    minimize as minimize,
)
from .runs import (
    load_classifier as load_classifier,
)
from .runs import (
    run_training as run_training,
)
from .runs import (
    save_classifier as save_classifier,
)
from .train import (
    TrainResult as TrainResult,
)
from .train import (
    accuracy as accuracy,
)
from .train import (
    confusion_matrix as confusion_matrix,
)
from .train import (
    cross_entropy as cross_entropy,
)
from .train import (
    evaluate_classifier as evaluate_classifier,
)
from .train import (
    init_train_state as init_train_state,
)
from .train import (
    make_eval_fn as make_eval_fn,
)
from .train import (
    make_loss_fn as make_loss_fn,
)
from .train import (
    predict_proba as predict_proba,
)
from .train import (
    train_classifier as train_classifier,
)
