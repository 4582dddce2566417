"""A whole run of either task: data, training, evaluation, figures and the saved model.

:func:`prepare_task` validates everything (text source, sizes) and builds the
arrays before anything is written; :func:`run_training` then trains, evaluates
and writes into the run folder. :func:`load_model` and :func:`generate_text`
serve ``khipu transformer generate``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.core import (
    CheckpointError,
    KhipuError,
    evaluate,
    init_train_state,
    load_checkpoint,
    make_eval_step,
    plot_learning_curves,
    read_metadata,
    save_checkpoint,
    write_json,
    write_metrics,
)
from khipu.transformer import data as D
from khipu.transformer.generate import generate
from khipu.transformer.models import Blocks, TransformerConfig, check_config
from khipu.transformer.plots import plot_attention, plot_positional_encoding
from khipu.transformer.tokenizers import CharTokenizer, pad_batch, tokenizer_from_dict
from khipu.transformer.train import (
    ModelFactory,
    _eval_fn,
    evaluate_inversion,
    greedy_decode_inversion,
    inversion_loss_fn,
    inversion_model,
    lm_loss_fn,
    lm_model,
    logits_of,
    train_model,
)

TASKS = ("invert", "lm")
MODEL_FILE = "model.npz"


@dataclasses.dataclass(frozen=True)
class TaskData:
    """Validated arrays of one task, with its tokenizer and model sizes."""

    task: str
    tokenizer: CharTokenizer
    config: TransformerConfig
    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray]
    test: dict[str, np.ndarray]


def prepare_task(
    task: str,
    text: str,
    *,
    length: int,
    num_train: int,
    num_eval: int = 500,
    d_model: int = 64,
    num_heads: int = 4,
    num_layers: int = 2,
    widening_factor: int = 4,
    max_len: int | None = None,
    pre_ln: bool = False,
    positional: str = "sinusoidal",
    seed: int = 0,
) -> TaskData:
    """Builds and checks the arrays of ``task`` from ``text``.

    Args:
      task: ``"invert"`` (crops of ``length // 2 .. length`` characters) or
        ``"lm"`` (windows of ``length`` characters).
      text: the whole text; split 80/10/10 % by position.
      length: crop / window length.
      num_train: training examples (crops / windows at random offsets).
      num_eval: held-out inversion crops per split (LM: all windows).
      d_model, num_heads, num_layers, widening_factor, pre_ln, positional: sizes.
      max_len: the model's longest sequence (default ``length + 1`` for
        inversion, ``2 * length`` for the LM so it can generate further).
      seed: seed of the crops.
    """
    if task not in TASKS:
        raise KhipuError(f"unknown task {task!r}; available: {', '.join(TASKS)}")
    if length < 2:
        raise KhipuError(f"length must be at least 2, got {length}")
    splits = D.split_text(text, min_length=length + 1)
    tokenizer = CharTokenizer.from_text(text)
    if task == "invert":
        lo = max(1, length // 2)
        crops = [
            D.random_crops(part, length, n, seed=seed + i, min_length=lo)
            for i, (part, n) in enumerate(
                ((splits.train, num_train), (splits.val, num_eval), (splits.test, num_eval))
            )
        ]
        train, val, test = (D.inversion_arrays(c, tokenizer, length) for c in crops)
        default_max = length + 1
    else:
        train = D.lm_arrays(splits.train, tokenizer, length, num_train, seed=seed)
        val = D.lm_arrays(splits.val, tokenizer, length, None, seed=seed)
        test = D.lm_arrays(splits.test, tokenizer, length, None, seed=seed)
        default_max = 2 * length
    config = TransformerConfig(
        vocab_size=tokenizer.vocab_size,
        d_model=d_model,
        num_heads=num_heads,
        num_layers=num_layers,
        widening_factor=widening_factor,
        max_len=max_len or default_max,
        pre_ln=pre_ln,
        positional=positional,
    )
    check_config(config)
    needed = length + 1 if task == "invert" else length
    if config.max_len < needed:
        raise KhipuError(f"max_len {config.max_len} is shorter than the sequences ({needed})")
    return TaskData(task, tokenizer, config, train, val, test)


def _loss_eval(data: TaskData, params: hk.Params, split: dict[str, np.ndarray]) -> dict[str, float]:
    loss_fn = inversion_loss_fn(data.config) if data.task == "invert" else lm_loss_fn(data.config)
    state = init_train_state(params, optax.identity(), key=0)
    batch = min(256, len(next(iter(split.values()))))
    return evaluate(make_eval_step(_eval_fn(loss_fn)), state, split, batch_size=batch)


def save_model(path: str | Path, data: TaskData, params: hk.Params, **extra: Any) -> Path:
    """Saves parameters with the task, sizes and tokenizer (for :func:`load_model`)."""
    meta = {
        "task": data.task,
        "config": data.config._asdict(),
        "tokenizer": data.tokenizer.to_dict(),
        **extra,
    }
    return save_checkpoint(path, {"params": params}, meta)


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model read back by :func:`load_model`."""

    task: str
    config: TransformerConfig
    tokenizer: CharTokenizer
    params: hk.Params
    metadata: dict[str, Any]


def load_model(path: str | Path) -> LoadedModel:
    """Reads a ``model.npz`` (or the run folder holding one).

    Raises:
      CheckpointError: missing, corrupt or not a transformer model.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    meta = read_metadata(path)
    try:
        task = str(meta["task"])
        config = TransformerConfig(**meta["config"])
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} is not a khipu-transformer model ({exc})") from exc
    if task not in TASKS or not isinstance(tokenizer, CharTokenizer):
        raise CheckpointError(f"{path} is not a khipu-transformer model (task {task!r})")
    check_config(config)
    key = jax.random.key(0)
    if task == "invert":
        src = jnp.zeros((1, config.max_len - 1), jnp.int32)
        like = jax.jit(inversion_model(config).init)(
            key, src, jnp.zeros((1, config.max_len), jnp.int32), jnp.ones((1,), jnp.int32)
        )
    else:
        like = jax.jit(lm_model(config).init)(key, jnp.zeros((1, 1), jnp.int32))
    tree, _ = load_checkpoint(path, {"params": like})
    return LoadedModel(task, config, tokenizer, tree["params"], meta)


def generate_text(
    model: LoadedModel,
    prompt: str,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int = 0,
) -> str:
    """The LM's continuation of ``prompt``, or the inversion model's inversion of it.

    Raises:
      KhipuError: unknown characters, a prompt too long for the model, bad settings.
    """
    if not prompt:
        raise KhipuError("the prompt is empty")
    ids = model.tokenizer.encode(prompt)
    if model.task == "lm":
        out = generate(
            model.config,
            model.params,
            ids[None],
            max_new_tokens,
            key=seed,
            temperature=temperature,
            top_k=top_k,
        )
        return model.tokenizer.decode(out[0])
    if len(ids) > model.config.max_len - 1:
        raise KhipuError(
            f"prompt of {len(ids)} characters is longer than the model's maximum "
            f"{model.config.max_len - 1}"
        )
    src = np.zeros((1, model.config.max_len - 1), np.int32)
    src[0, : len(ids)] = ids
    steps = min(max_new_tokens, model.config.max_len)
    out = greedy_decode_inversion(
        model.config, model.params, src, np.array([len(ids)], np.int32), steps
    )
    return model.tokenizer.decode(out[0])


def _attention_figures(out: Path, data: TaskData, params: hk.Params) -> None:
    """Heatmaps of the last layer's attention for the first test example."""
    tok = data.tokenizer
    if data.task == "invert":
        n = int(data.test["src_len"][0])
        src = jnp.asarray(data.test["src"][:1])
        dec_in = jnp.asarray(data.test["dec_in"][:1])
        res = jax.jit(inversion_model(data.config).apply)(
            params, None, src, dec_in, jnp.asarray(data.test["src_len"][:1])
        )
        src_chars = list(tok.decode(data.test["src"][0, :n]))
        dec_chars = ["<bos>", *tok.decode(data.test["dec_in"][0, 1 : n + 1])]
        plot_attention(
            np.asarray(res.encoder_weights[0, -1, :, :n, :n]),
            queries=src_chars,
            keys=src_chars,
            title="encoder self-attention (last layer)",
            path=out / "attention_encoder.png",
        )
        plot_attention(
            np.asarray(res.decoder_weights[0, -1, :, : n + 1, : n + 1]),
            queries=dec_chars,
            keys=dec_chars,
            title="decoder causal self-attention (last layer)",
            path=out / "attention_decoder.png",
        )
        plot_attention(
            np.asarray(res.cross_weights[0, -1, :, : n + 1, :n]),
            queries=dec_chars,
            keys=src_chars,
            title="decoder cross-attention to the source (last layer)",
            path=out / "attention_cross.png",
        )
    else:
        t = min(48, data.test["tokens"].shape[1] - 1)
        tokens = jnp.asarray(data.test["tokens"][:1, :t])
        res = jax.jit(lm_model(data.config).apply)(params, None, tokens)
        chars = list(tok.decode(data.test["tokens"][0, :t]))
        plot_attention(
            np.asarray(res.self_weights[0, -1]),
            queries=chars,
            keys=chars,
            title="causal self-attention (last layer)",
            path=out / "attention_lm.png",
        )


def run_training(
    out: Path,
    data: TaskData,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    warmup_steps: int,
    seed: int,
    resume: bool,
    progress: bool,
) -> dict[str, Any]:
    """Trains, evaluates on held-out text and writes the run folder.

    Writes ``metrics.json``, ``history.json``, ``learning_curves.png``,
    ``positional_encoding.png``, attention heatmaps, ``model.npz`` and
    ``checkpoints/last.npz``. Returns the metrics.
    """
    result = train_model(
        data.task,
        data.config,
        data.train,
        data.val,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        seed=seed,
        checkpoint_dir=out / "checkpoints",
        resume=resume,
        progress=progress,
    )
    params = result.params
    val = _loss_eval(data, params, data.val)
    metrics: dict[str, Any] = {
        "val_loss": val["loss"],
        "val_teacher_forced_token_accuracy": val["token_accuracy"],
        "epochs_run": result.epochs_run,
        "train_seconds": result.train_seconds,
        "parameters": int(sum(np.size(p) for p in jax.tree_util.tree_leaves(params))),
        "vocab_size": data.config.vocab_size,
    }
    if data.task == "invert":
        metrics |= evaluate_inversion(data.config, params, data.test)
        metrics["test_examples"] = len(data.test["src"])
    else:
        test = _loss_eval(data, params, data.test)
        metrics |= {
            "bits_per_char": val["loss"] / math.log(2),
            "test_loss": test["loss"],
            "test_bits_per_char": test["loss"] / math.log(2),
        }
    write_json(out / "history.json", result.history)
    plot_learning_curves(
        result.history, metrics=["loss", "token_accuracy"], path=out / "learning_curves.png"
    )
    plot_positional_encoding(
        data.config.max_len, data.config.d_model, path=out / "positional_encoding.png"
    )
    _attention_figures(out, data, params)
    save_model(out / MODEL_FILE, data, params, metrics={k: metrics[k] for k in ("val_loss",)})
    write_metrics(out, metrics)
    return metrics


# --- the inversion model built from any blocks (the notebook's own) ----------------


class InversionResult(NamedTuple):
    """What :func:`train_inversion` returns.

    Attributes:
      params: the trained parameters (of ``inversion_model(config, model, blocks)``).
      history: per-epoch metrics of ``fit()``.
      metrics: ``exact_match`` and ``token_accuracy`` of greedy autoregressive
        decoding on the held-out test crops, ``train_seconds``.
      model, blocks: what the parameters belong to.
    """

    params: hk.Params
    history: dict[str, list[float]]
    metrics: dict[str, float]
    model: ModelFactory | None
    blocks: Blocks | None


def train_inversion(
    data: TaskData,
    *,
    model: ModelFactory | None = None,
    blocks: Blocks | None = None,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    warmup_steps: int = 100,
    seed: int = 0,
    progress: bool = True,
) -> InversionResult:
    """Trains the inversion task with any model and blocks, then decodes the
    held-out crops autoregressively.

    The same code path trains the package's model (``model=None, blocks=None``
    or ``blocks=Blocks()``) and one built in the notebook, e.g.
    ``train_inversion(data, model=Seq2Seq, blocks=Blocks(EncoderBlock, DecoderBlock))``.

    Args:
      data: an ``"invert"`` task from :func:`prepare_task` (post-LN sizes).
      model: ``model(config, blocks, name=...)`` -> the encoder-decoder module
        (see :data:`~khipu.transformer.train.ModelFactory`); default :class:`Transformer`.
      blocks: the encoder / decoder blocks (default: the package's).
      epochs, batch_size, learning_rate, warmup_steps, seed, progress: as in
        :func:`~khipu.transformer.train.train_model`.
    """
    if data.task != "invert":
        raise KhipuError(f"train_inversion needs an 'invert' task, got {data.task!r}")
    outcome = train_model(
        "invert",
        data.config,
        data.train,
        data.val,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        seed=seed,
        progress=progress,
        model=model,
        blocks=blocks,
    )
    metrics = evaluate_inversion(data.config, outcome.params, data.test, model=model, blocks=blocks)
    metrics["train_seconds"] = outcome.train_seconds
    return InversionResult(outcome.params, outcome.history, metrics, model, blocks)


def invert_texts(
    data: TaskData, result: InversionResult, texts: list[str], *, teacher_forcing: bool = False
) -> list[str]:
    """The trained model's inversions of ``texts``.

    Args:
      data: the task (tokenizer and sizes).
      result: from :func:`train_inversion`.
      texts: sources of at most ``config.max_len - 1`` known characters.
      teacher_forcing: ``False``: greedy autoregressive decoding (each output
        token is fed back, as at test time); ``True``: the decoder reads the
        *true* inverted text shifted right and predicts all positions in one
        pass (as in training) — the argmax at each position.
    """
    tok, config = data.tokenizer, data.config
    n = config.max_len - 1
    if any(len(t) > n or not t for t in texts):
        raise KhipuError(f"texts must hold 1 to {n} characters")
    src, src_len = pad_batch([tok.encode(t) for t in texts], n)
    if not teacher_forcing:
        out = greedy_decode_inversion(
            config, result.params, src, src_len, n + 1, model=result.model, blocks=result.blocks
        )
        return [tok.decode(row) for row in out]
    arrays = D.inversion_arrays(texts, tok, n)
    apply = inversion_model(config, result.model, result.blocks).apply
    logits = logits_of(
        apply(
            result.params,
            None,
            jnp.asarray(arrays["src"]),
            jnp.asarray(arrays["dec_in"]),
            jnp.asarray(arrays["src_len"]),
        )
    )
    return [tok.decode(row) for row in np.asarray(jnp.argmax(logits, -1))]
