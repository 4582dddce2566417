"""Type stub of khipu.diffusion: the public API, imported lazily (see __init__.py)."""

from .__about__ import (
    __version__ as __version__,
)
from .data import (
    DATASETS as DATASETS,
    load_data as load_data,
    to_display_range as to_display_range,
    to_model_range as to_model_range,
    to_uint8 as to_uint8,
    toy2d_splits as toy2d_splits,
)
from .evaluation import (
    EvalClassifier as EvalClassifier,
    class_accuracy as class_accuracy,
    frechet_distance as frechet_distance,
    load_eval_classifier as load_eval_classifier,
    nn_distance_ratio as nn_distance_ratio,
    sample_labels as sample_labels,
    save_eval_classifier as save_eval_classifier,
    train_eval_classifier as train_eval_classifier,
)
from .guidance import (
    NoisyClassifier as NoisyClassifier,
    classifier_guided_eps as classifier_guided_eps,
    classifier_log_prob_grad as classifier_log_prob_grad,
    noisy_accuracy as noisy_accuracy,
    train_noisy_classifier as train_noisy_classifier,
)
from .models import (
    Denoiser as Denoiser,
    DenoiserConfig as DenoiserConfig,
    MLPDenoiser as MLPDenoiser,
    ResnetBlock as ResnetBlock,
    SelfAttention as SelfAttention,
    UNet as UNet,
    UNetLevel as UNetLevel,
    build_denoiser as build_denoiser,
    default_config as default_config,
    timestep_embedding as timestep_embedding,
    unet_down_path as unet_down_path,
    unet_layout as unet_layout,
    unet_up_path as unet_up_path,
)
from .plots import (
    plot_denoising as plot_denoising,
    plot_forward_process as plot_forward_process,
    plot_gaussian_conditionals as plot_gaussian_conditionals,
    plot_generative_vs_discriminative as plot_generative_vs_discriminative,
    plot_mixture as plot_mixture,
    plot_points as plot_points,
    plot_reverse_step as plot_reverse_step,
    plot_sample_grid as plot_sample_grid,
    plot_schedules as plot_schedules,
    plot_unet as plot_unet,
    plot_vlb_weights as plot_vlb_weights,
    save_denoising_gif as save_denoising_gif,
)
from .runs import (
    LoadedModel as LoadedModel,
    evaluate_samples as evaluate_samples,
    load_model as load_model,
    run_sampling as run_sampling,
    run_training as run_training,
    save_model as save_model,
)
from .sampling import (
    Samples as Samples,
    ddim_sample as ddim_sample,
    ddim_timesteps as ddim_timesteps,
    ddpm_sample as ddpm_sample,
    guided_eps as guided_eps,
    sample as sample,
)
from .schedules import (
    Schedule as Schedule,
    cosine_beta_schedule as cosine_beta_schedule,
    extract as extract,
    get_schedule as get_schedule,
    linear_beta_schedule as linear_beta_schedule,
    make_schedule as make_schedule,
    posterior_mean as posterior_mean,
    predict_x0 as predict_x0,
    q_sample as q_sample,
    schedule_summary as schedule_summary,
    vlb_weights as vlb_weights,
)
from .toy import (
    ClassGaussians as ClassGaussians,
    GaussianMixture as GaussianMixture,
    class_posterior as class_posterior,
    fit_class_gaussians as fit_class_gaussians,
    gaussian_conditional as gaussian_conditional,
    gaussian_mismatch as gaussian_mismatch,
    gaussian_mixture as gaussian_mixture,
    langevin_sample as langevin_sample,
    mixture_log_prob as mixture_log_prob,
    mixture_moments as mixture_moments,
    mixture_score as mixture_score,
    mmd as mmd,
    moment_errors as moment_errors,
    practical_mixture as practical_mixture,
    reverse_step_density as reverse_step_density,
    sample_classes as sample_classes,
    sample_mixture as sample_mixture,
    score_ascent as score_ascent,
)
from .train import (
    EmaState as EmaState,
    TrainResult as TrainResult,
    ema_params as ema_params,
    make_ddpm_loss as make_ddpm_loss,
    train_denoiser as train_denoiser,
    with_parameter_ema as with_parameter_ema,
)
