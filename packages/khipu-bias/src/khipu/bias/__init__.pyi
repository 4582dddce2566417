"""Type stub of khipu.bias: the public API, imported lazily (see __init__.py)."""

from . import exercises as exercises
from .__about__ import (
    __version__ as __version__,
)
from .analogies import (
    AnalogyEvaluation as AnalogyEvaluation,
    analogy as analogy,
    evaluate_analogies as evaluate_analogies,
)
from .data import (
    CbowModel as CbowModel,
    ModelConfig as ModelConfig,
    cache_dir as cache_dir,
    corpus_sentences as corpus_sentences,
    default_embeddings as default_embeddings,
    default_model as default_model,
    spanish_corpus as spanish_corpus,
    spanish_embeddings as spanish_embeddings,
    train_cbow as train_cbow,
)
from .debias import (
    Recoverability as Recoverability,
    equalize as equalize,
    hard_debias as hard_debias,
    kmeans as kmeans,
    neutralize as neutralize,
    recoverability as recoverability,
)
from .debiasers import (
    DoubleHardChoice as DoubleHardChoice,
    RanWeights as RanWeights,
    debias as debias,
    double_hard_debias as double_hard_debias,
    half_sibling_regression as half_sibling_regression,
    multiclass_hard_debias as multiclass_hard_debias,
    ran_debias as ran_debias,
)
from .directions import (
    BiasDirection as BiasDirection,
    Projection as Projection,
    bias_direction as bias_direction,
    direct_bias as direct_bias,
    direction_from_pair as direction_from_pair,
    direction_from_sums as direction_from_sums,
    direction_pca as direction_pca,
    project as project,
)
from .embeddings import (
    Lookup as Lookup,
    MissingWordsError as MissingWordsError,
    WordEmbeddings as WordEmbeddings,
    load_embeddings as load_embeddings,
    strip_accents as strip_accents,
)
from .explore import (
    GeneratedAnalogy as GeneratedAnalogy,
    WordMap as WordMap,
    generated_analogies as generated_analogies,
    projection_table as projection_table,
    word_map as word_map,
)
from .lm import (
    CbowScorer as CbowScorer,
    HFMaskedLMScorer as HFMaskedLMScorer,
    MaskedScorer as MaskedScorer,
    PairsResult as PairsResult,
    SentencePair as SentencePair,
    builtin_pairs as builtin_pairs,
    compare_pairs as compare_pairs,
    get_scorer as get_scorer,
    load_pairs as load_pairs,
    pseudo_log_likelihood as pseudo_log_likelihood,
    rank_fillers as rank_fillers,
    shared_pll as shared_pll,
)
from .metrics import (
    ConstantInputError as ConstantInputError,
    UnstableRatioError as UnstableRatioError,
    bias_subspace as bias_subspace,
    ect as ect,
    indirect_bias as indirect_bias,
    mac as mac,
    relation_vector as relation_vector,
    ripa as ripa,
    rnd as rnd,
    rnd_pairwise as rnd_pairwise,
    rnsb as rnsb,
    weat_d as weat_d,
)
from .plots import (
    plot_explained_variance as plot_explained_variance,
    plot_metrics as plot_metrics,
    plot_pairs as plot_pairs,
    plot_projection_bars as plot_projection_bars,
    plot_projection_plane as plot_projection_plane,
    plot_quality as plot_quality,
    plot_rank_agreement as plot_rank_agreement,
    plot_sweep as plot_sweep,
    plot_weat as plot_weat,
    plot_word_map as plot_word_map,
)
from .quality import (
    format_table as format_table,
    quality_table as quality_table,
    recoverability_classifier as recoverability_classifier,
    word_similarity as word_similarity,
)
from .query import (
    METRICS as METRICS,
    GroupMetrics as GroupMetrics,
    QueryMetrics as QueryMetrics,
    Ranking as Ranking,
    group_metrics as group_metrics,
    matched_pairs as matched_pairs,
    query_metrics as query_metrics,
    rank_embeddings as rank_embeddings,
)
from .sentences import (
    MeanWordVectorEncoder as MeanWordVectorEncoder,
    SentenceEncoder as SentenceEncoder,
    seat as seat,
)
from .uncertainty import (
    BootstrapCI as BootstrapCI,
    bootstrap_ci as bootstrap_ci,
)
from .weat import (
    PermutationTest as PermutationTest,
    WeatResult as WeatResult,
    association as association,
    permutation_test as permutation_test,
    sample_partitions as sample_partitions,
    weat as weat,
    weat_effect_size as weat_effect_size,
    weat_from_vectors as weat_from_vectors,
    weat_statistic as weat_statistic,
)
from .wordsets import (
    WeatTest as WeatTest,
    WordSet as WordSet,
    analogy_family_pairs as analogy_family_pairs,
    available_tests as available_tests,
    caliskan_test as caliskan_test,
    definitional_pairs as definitional_pairs,
    equalize_pairs as equalize_pairs,
    example_sets as example_sets,
    gender_specific_words as gender_specific_words,
    get_test as get_test,
    load_weat_test as load_weat_test,
    load_word_sets as load_word_sets,
    make_test as make_test,
)
