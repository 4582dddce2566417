"""Type stub of khipu.transformer: the public API, imported lazily (see __init__.py)."""

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
from .models import (
    AddNorm as AddNorm,
    AttentionOutput as AttentionOutput,
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
