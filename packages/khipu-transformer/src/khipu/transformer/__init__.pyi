"""Type stub of khipu.transformer: the public API, imported lazily (see __init__.py)."""

from . import exercises as exercises
from .__about__ import (
    __version__ as __version__,
)
from .attention import (
    causal_mask as causal_mask,
    check_mask as check_mask,
    dot_product_attention as dot_product_attention,
    key_padding_mask as key_padding_mask,
    masked_softmax as masked_softmax,
    padding_mask as padding_mask,
    scaled_dot_product_attention as scaled_dot_product_attention,
)
from .classify import (
    FeatureClassifier as FeatureClassifier,
    encoder_embedder as encoder_embedder,
    evaluate_text_classifier as evaluate_text_classifier,
    hf_embedder as hf_embedder,
    intent_dataset as intent_dataset,
    random_encoder_embedder as random_encoder_embedder,
    train_feature_classifier as train_feature_classifier,
)
from .data import (
    TextSplits as TextSplits,
    grammar_sentence as grammar_sentence,
    grammar_text as grammar_text,
    inversion_arrays as inversion_arrays,
    invert_words as invert_words,
    lm_arrays as lm_arrays,
    load_text as load_text,
    random_crops as random_crops,
    read_text_file as read_text_file,
    split_text as split_text,
)
from .generate import (
    generate as generate,
    sample_logits as sample_logits,
)
from .models import (
    AddNorm as AddNorm,
    AttentionOutput as AttentionOutput,
    Blocks as Blocks,
    DecoderBlock as DecoderBlock,
    DecoderLM as DecoderLM,
    DecoderOutput as DecoderOutput,
    EncoderBlock as EncoderBlock,
    FeedForwardBlock as FeedForwardBlock,
    KVCache as KVCache,
    LearnedPositionalEncoding as LearnedPositionalEncoding,
    MultiHeadAttention as MultiHeadAttention,
    SequenceToQKV as SequenceToQKV,
    Transformer as Transformer,
    TransformerConfig as TransformerConfig,
    TransformerDecoder as TransformerDecoder,
    TransformerEncoder as TransformerEncoder,
    TransformerOutput as TransformerOutput,
    init_cache as init_cache,
    merge_heads as merge_heads,
    parameter_count as parameter_count,
    sinusoidal_encoding as sinusoidal_encoding,
    split_heads as split_heads,
)
from .plots import (
    plot_architecture as plot_architecture,
    plot_attention as plot_attention,
    plot_positional_encoding as plot_positional_encoding,
)
from .pretrained import (
    PretrainConfig as PretrainConfig,
    PretrainedEncoder as PretrainedEncoder,
    TextEncoder as TextEncoder,
    agent_dataset as agent_dataset,
    frozen_features as frozen_features,
    load_pretrained as load_pretrained,
    pretrain_encoder as pretrain_encoder,
    random_like as random_like,
)
from .runs import (
    InversionResult as InversionResult,
    LoadedModel as LoadedModel,
    TaskData as TaskData,
    generate_text as generate_text,
    invert_texts as invert_texts,
    load_model as load_model,
    prepare_task as prepare_task,
    run_training as run_training,
    save_model as save_model,
    train_inversion as train_inversion,
)
from .tokenizers import (
    BOS as BOS,
    EOS as EOS,
    PAD as PAD,
    ByteTokenizer as ByteTokenizer,
    CharTokenizer as CharTokenizer,
    WordTokenizer as WordTokenizer,
    lengths_to_mask as lengths_to_mask,
    pad_batch as pad_batch,
    split_words as split_words,
    tokenizer_from_dict as tokenizer_from_dict,
)
from .train import (
    TrainOutcome as TrainOutcome,
    evaluate_inversion as evaluate_inversion,
    greedy_decode_inversion as greedy_decode_inversion,
    inversion_loss_fn as inversion_loss_fn,
    inversion_model as inversion_model,
    lm_loss_fn as lm_loss_fn,
    lm_model as lm_model,
    logits_of as logits_of,
    make_optimizer as make_optimizer,
    sequence_loss as sequence_loss,
    sequence_metrics as sequence_metrics,
    token_accuracy as token_accuracy,
    train_model as train_model,
)
from .vit import (
    PatchEmbedding as PatchEmbedding,
    VisionTransformer as VisionTransformer,
    ViTConfig as ViTConfig,
    ViTResult as ViTResult,
    image_to_patches as image_to_patches,
    predict_vit as predict_vit,
    train_vit as train_vit,
    vit_model as vit_model,
)
