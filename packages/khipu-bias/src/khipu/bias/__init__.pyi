"""Type stub of khipu.bias: the public API, imported lazily (see __init__.py)."""

from .__about__ import (
    __version__ as __version__,
)
from .analogies import (
    AnalogyEvaluation as AnalogyEvaluation,
)
from .analogies import (
    analogy as analogy,
)
from .analogies import (
    evaluate_analogies as evaluate_analogies,
)
from .data import (
    CbowModel as CbowModel,
)
from .data import (
    ModelConfig as ModelConfig,
)
from .data import (
    cache_dir as cache_dir,
)
from .data import (
    corpus_sentences as corpus_sentences,
)
from .data import (
    default_embeddings as default_embeddings,
)
from .data import (
    default_model as default_model,
)
from .data import (
    train_cbow as train_cbow,
)
from .debias import (
    Recoverability as Recoverability,
)
from .debias import (
    equalize as equalize,
)
from .debias import (
    hard_debias as hard_debias,
)
from .debias import (
    kmeans as kmeans,
)
from .debias import (
    neutralize as neutralize,
)
from .debias import (
    recoverability as recoverability,
)
from .directions import (
    BiasDirection as BiasDirection,
)
from .directions import (
    Projection as Projection,
)
from .directions import (
    bias_direction as bias_direction,
)
from .directions import (
    direct_bias as direct_bias,
)
from .directions import (
    direction_from_pair as direction_from_pair,
)
from .directions import (
    direction_from_sums as direction_from_sums,
)
from .directions import (
    direction_pca as direction_pca,
)
from .directions import (
    project as project,
)
from .embeddings import (
    Lookup as Lookup,
)
from .embeddings import (
    MissingWordsError as MissingWordsError,
)
from .embeddings import (
    WordEmbeddings as WordEmbeddings,
)
from .embeddings import (
    load_embeddings as load_embeddings,
)
from .embeddings import (
    strip_accents as strip_accents,
)
from .lm import (
    CbowScorer as CbowScorer,
)
from .lm import (
    HFMaskedLMScorer as HFMaskedLMScorer,
)
from .lm import (
    MaskedScorer as MaskedScorer,
)
from .lm import (
    PairsResult as PairsResult,
)
from .lm import (
    SentencePair as SentencePair,
)
from .lm import (
    builtin_pairs as builtin_pairs,
)
from .lm import (
    compare_pairs as compare_pairs,
)
from .lm import (
    get_scorer as get_scorer,
)
from .lm import (
    load_pairs as load_pairs,
)
from .lm import (
    pseudo_log_likelihood as pseudo_log_likelihood,
)
from .lm import (
    rank_fillers as rank_fillers,
)
from .lm import (
    shared_pll as shared_pll,
)
from .plots import (
    plot_explained_variance as plot_explained_variance,
)
from .plots import (
    plot_pairs as plot_pairs,
)
from .plots import (
    plot_projection_bars as plot_projection_bars,
)
from .plots import (
    plot_projection_plane as plot_projection_plane,
)
from .plots import (
    plot_weat as plot_weat,
)
from .sentences import (
    MeanWordVectorEncoder as MeanWordVectorEncoder,
)
from .sentences import (
    SentenceEncoder as SentenceEncoder,
)
from .sentences import (
    seat as seat,
)
from .weat import (
    PermutationTest as PermutationTest,
)
from .weat import (
    WeatResult as WeatResult,
)
from .weat import (
    association as association,
)
from .weat import (
    permutation_test as permutation_test,
)
from .weat import (
    sample_partitions as sample_partitions,
)
from .weat import (
    weat as weat,
)
from .weat import (
    weat_effect_size as weat_effect_size,
)
from .weat import (
    weat_from_vectors as weat_from_vectors,
)
from .weat import (
    weat_statistic as weat_statistic,
)
from .wordsets import (
    WeatTest as WeatTest,
)
from .wordsets import (
    WordSet as WordSet,
)
from .wordsets import (
    analogy_family_pairs as analogy_family_pairs,
)
from .wordsets import (
    available_tests as available_tests,
)
from .wordsets import (
    caliskan_test as caliskan_test,
)
from .wordsets import (
    definitional_pairs as definitional_pairs,
)
from .wordsets import (
    equalize_pairs as equalize_pairs,
)
from .wordsets import (
    example_sets as example_sets,
)
from .wordsets import (
    gender_specific_words as gender_specific_words,
)
from .wordsets import (
    get_test as get_test,
)
from .wordsets import (
    load_weat_test as load_weat_test,
)
from .wordsets import (
    load_word_sets as load_word_sets,
)
from .wordsets import (
    make_test as make_test,
)
