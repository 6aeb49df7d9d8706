"""Fine-tuning one subset (docs/experiments.md): a BERT-family classifier, or a Q&A answer ranker, on chosen rows.

* :func:`train_and_evaluate` trains on ``train_rows`` and measures on ``test_rows``:
  :func:`train_classifier_and_evaluate` (sequence classification: accuracy, macro-F1) or
  :func:`train_qa_ranker_and_evaluate` (answer selection: a cross-encoder ranks the true answer against 3
  others; training negatives from the subset or the pool, test negatives from the test rows only).

Seeded (torch, shuffles, negatives), dynamic padding, length-grouped batches; bf16 autocast on CUDA, fp32 on
CPU unless ``precision="bf16"`` on a CPU with native bf16 (:func:`training_precision`). No hub access: ``local_files_only=True``, ``trust_remote_code=False``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.models.loading import DEFAULT_ENCODER, model_hash, resolve_device, resolve_encoder_path

QA_NEGATIVES = 3  # docs/experiments.md: one true answer + 3 random others per question

# (run fraction in [0, 1], message) while one run trains
RunProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@dataclass
class FinetuneConfig:
    """Everything about one training run except the subset and the seed."""

    model: str = DEFAULT_ENCODER  # local HF folder, or packaged:minilm
    epochs: int = 1
    max_len: int = 128
    batch_size: int = 16
    lr: float = 2e-4  # measured: 5e-5 left MiniLM at the majority class after 1 epoch on 800 rows; 2e-4 reached 0.745
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0  # the test split (and the Q&A test candidates) never change across runs
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU; bf16: also on CPUs with native bf16
    test_sample: int = 0  # evaluate on this many rows of the test split (a fixed seeded sample); 0 = all of it
    freeze_embeddings: bool = False  # keep the word embeddings fixed: half of MiniLM's weights, no update on CPU

    def check(self) -> None:
        if self.epochs < 1:
            raise EudsInputError("--epochs must be at least 1")
        if not 8 <= self.max_len <= 4096:
            raise EudsInputError("--max-len must be between 8 and 4096 tokens")
        if self.batch_size < 1:
            raise EudsInputError("the batch size must be at least 1")
        if not 0.0 < self.test_fraction < 0.9:
            raise EudsInputError("the test fraction must be between 0 and 0.9")
        if self.precision not in PRECISIONS:
            raise EudsInputError(f"the training precision must be one of {', '.join(PRECISIONS)}")
        if self.test_sample < 0:
            raise EudsInputError("the test sample must be 0 (the whole test split) or a row count")

    def key_params(self) -> dict:
        """What changes a run's result, for the grid key: the model by fingerprint (not by path), the device
        kind it trains on and the precision it resolves to there; the test sample and frozen embeddings only when
        set (so the keys of runs made before those options stay the same)."""
        params = asdict(self)
        device = resolve_device(params.pop("device"))
        params["model"] = model_hash(resolve_encoder_path(self.model))
        params["device"] = device.split(":")[0]
        params["precision"] = training_precision(device, self.precision)
        for name in ("test_sample", "freeze_embeddings"):
            if not params[name]:
                params.pop(name)
        return params


PRECISIONS = ("auto", "bf16", "fp32")


def training_precision(device: str, precision: str = "auto") -> str:
    """The precision a run trains and predicts in on ``device`` (see ``_forward``): bf16 autocast on CUDA unless
    ``fp32``; on a CPU only with ``bf16`` and native bf16 (AVX512-BF16 or AMX: emulated bf16 is slower than fp32)."""
    if precision == "fp32":
        return "fp32"
    if device.startswith("cuda"):
        return "bf16-autocast"
    if precision == "bf16":
        from euds_core.models.mixed_precision import native_bf16

        return "bf16-autocast" if native_bf16(device) else "fp32"
    return "fp32"


@dataclass
class RunResult:
    accuracy: float
    macro_f1: float
    n_train: int
    train_seconds: float
    params: dict = field(default_factory=dict)
    correct: np.ndarray | None = None  # 0/1 per test row, in the test rows' order (intervals bootstrap them)


# ---------------------------------------------------------------------------------------------- Q&A candidates


def build_qa_candidates(
    answers: list[str], rows: np.ndarray, pool: np.ndarray, seed: int, n_negatives: int = QA_NEGATIVES
) -> np.ndarray:
    """(len(rows), 1 + n_negatives) row indices: column 0 the row's own (true) answer, then random others.

    Negatives are drawn from ``pool`` among rows whose answer text differs from the true one (ChatterBot
    repeats answers, and a duplicate of the truth is not a wrong candidate). Seeded.
    """
    rng = np.random.default_rng(seed)
    answers_arr = np.asarray(answers, dtype=object)
    pool = np.asarray(pool)
    if len(np.unique(answers_arr[pool])) < n_negatives + 1:
        raise EudsInputError(f"answer selection needs at least {n_negatives + 1} distinct answers; this data has fewer")
    out = np.empty((len(rows), 1 + n_negatives), dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, 0] = row
        chosen: list[int] = []
        seen = {answers_arr[row]}
        while len(chosen) < n_negatives:
            cand = int(pool[rng.integers(len(pool))])
            if answers_arr[cand] not in seen:
                chosen.append(cand)
                seen.add(answers_arr[cand])
        out[i, 1:] = chosen
    return out


# ---------------------------------------------------------------------------------------------- training


def _length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar lengths (less padding): shuffle, sort within mega-batches, shuffle batches."""
    order = rng.permutation(len(lengths))
    mega = batch_size * 32
    batches = []
    for start in range(0, len(order), mega):
        chunk = order[start : start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _load_model(path: str, num_labels: int, seed: int):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialised classifier head" is expected, not news
    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)  # the new head's initialisation is part of the seed
    kwargs = dict(local_files_only=True, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        # ignore_mismatched_sizes: a folder that is already a classifier with another label count gets a new head.
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, ignore_mismatched_sizes=True, **kwargs
        )
    except (OSError, ValueError) as exc:
        raise EudsInputError(f"could not load a sequence classifier from {path}: {str(exc).splitlines()[0]}") from None
    return tokenizer, model


def _encode(tokenizer, first: list[str], second: list[str] | None, max_len: int) -> list[list[int]]:
    enc = (
        tokenizer(first, second, truncation=True, max_length=max_len)
        if second is not None
        else tokenizer(first, truncation=True, max_length=max_len)
    )
    keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
    return [{k: enc[k][i] for k in keys} for i in range(len(first))]


def _forward(model, tokenizer, features: list[dict], device: str, precision: str = "fp32"):
    import torch

    batch = tokenizer.pad(features, return_tensors="pt")  # dynamic padding: to the longest in the batch
    batch = {k: v.to(device) for k, v in batch.items()}
    kind = device.split(":")[0]
    with torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16-autocast"):
        return model(**batch).logits.float()  # (batch, num_labels)


def _fit(
    model,
    tokenizer,
    features: list[dict],
    loss_fn: Callable,
    group: int,
    config: FinetuneConfig,
    device: str,
    seed: int,
    progress: RunProgressFn | None,
    cancel: CancelFn | None,
) -> float:
    """Train in place; ``group`` consecutive features form one example (1 for classification, 4 for Q&A).

    Returns the wall seconds spent training.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    n_examples = len(features) // group
    lengths = np.array(
        [sum(len(features[i * group + j]["input_ids"]) for j in range(group)) for i in range(n_examples)]
    )
    rng = np.random.default_rng(seed)
    per_batch = max(1, config.batch_size // group)
    epochs = [_length_grouped_batches(lengths, per_batch, rng) for _ in range(config.epochs)]
    total = sum(len(b) for b in epochs)
    if config.freeze_embeddings:  # MiniLM: 11.7 M of its 22.7 M weights; their gradient and AdamW step dominated
        model.get_input_embeddings().weight.requires_grad_(False)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if not any(k in n for k in ("bias", "LayerNorm", "layer_norm"))]
    no_decay = [p for n, p in named if any(k in n for k in ("bias", "LayerNorm", "layer_norm"))]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total), max(total, 1))
    model.to(device).train()
    precision = training_precision(device, config.precision)
    started = time.perf_counter()
    step = 0
    for epoch, batches in enumerate(epochs):
        for examples in batches:
            if cancel is not None and cancel():
                raise ScoringCancelled("fine-tune cancelled (finished runs are saved)")
            rows = [int(e) * group + j for e in examples for j in range(group)]
            logits = _forward(model, tokenizer, [features[r] for r in rows], device, precision)  # (rows, num_labels)
            loss = loss_fn(logits, examples)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if progress:
                progress(
                    step / total, f"epoch {epoch + 1}/{config.epochs}, step {step}/{total}, loss {loss.item():.3f}"
                )
    return time.perf_counter() - started


def _predict_logits(
    model, tokenizer, features: list[dict], device: str, precision: str = "fp32", batch_size: int = 64
) -> np.ndarray:
    import torch

    model.eval()
    order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")  # similar lengths per batch
    out: list[np.ndarray] = [None] * len(features)  # type: ignore[list-item]
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            logits = _forward(model, tokenizer, [features[r] for r in rows], device, precision).cpu().numpy()
            for r, value in zip(rows, logits, strict=True):
                out[r] = value
    return np.stack(out) if out else np.zeros((0, 1), dtype=np.float32)  # (n, num_labels)


def train_and_evaluate(
    table: pd.DataFrame,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    *,
    task: str,
    config: FinetuneConfig,
    seed: int,
    pool: np.ndarray | None = None,
    progress: RunProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> RunResult:
    """Fine-tune on ``table.iloc[train_rows]`` and evaluate on ``table.iloc[test_rows]``.

    ``task`` picks :func:`train_classifier_and_evaluate` or :func:`train_qa_ranker_and_evaluate`; ``pool``
    (default: ``train_rows``) is where Q&A training negatives may come from — never the test rows.
    """
    if len(train_rows) == 0:
        raise EudsInputError("the subset is empty; choose a larger size fraction")
    config.check()
    train_rows, test_rows = np.sort(np.asarray(train_rows)), np.asarray(test_rows)
    if task == "qa":
        pool = train_rows if pool is None else np.asarray(pool)
        return train_qa_ranker_and_evaluate(
            table, train_rows, test_rows, pool, config=config, seed=seed, progress=progress, cancel=cancel
        )
    return train_classifier_and_evaluate(
        table, train_rows, test_rows, config=config, seed=seed, progress=progress, cancel=cancel
    )


def qa_training_negative_rows(answers: list[str], train_rows: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Where a subset's training negatives come from: its own rows when they hold enough distinct answers,
    else the pool. Never the test split (a test answer seen as a training negative would leak)."""
    own = np.asarray(answers, dtype=object)[train_rows]
    return train_rows if len(np.unique(own)) > QA_NEGATIVES else pool


def train_qa_ranker_and_evaluate(
    table: pd.DataFrame,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    pool: np.ndarray,
    *,
    config: FinetuneConfig,
    seed: int,
    progress: RunProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> RunResult:
    """Answer selection: a cross-encoder scores (question, candidate) pairs, the true answer + 3 others.

    Training negatives come from :func:`qa_training_negative_rows`; test negatives from the test rows only
    (fixed by the split seed). Accuracy = the true answer scored strictly above all 3 others (a tie counts as
    wrong, so an untrained model does not look right); macro-F1 is over the pair decision "top-ranked
    candidate = relevant" vs the truth.
    """
    import torch
    from sklearn.metrics import f1_score

    device = resolve_device(config.device)
    answers, questions = table["answer"].tolist(), table["question"].tolist()
    tokenizer, model = _load_model(str(resolve_encoder_path(config.model)), 1, seed)
    train_cands = build_qa_candidates(answers, train_rows, qa_training_negative_rows(answers, train_rows, pool), seed)
    try:
        test_cands = build_qa_candidates(answers, test_rows, test_rows, config.split_seed + 1)
    except EudsInputError:
        raise EudsInputError(
            f"the test split holds fewer than {QA_NEGATIVES + 1} distinct answers; raise --test-fraction or add rows"
        ) from None

    def pairs(cands: np.ndarray) -> list[dict]:
        q = [questions[row] for row, c in zip(cands[:, 0], cands, strict=True) for _ in c]
        a = [answers[i] for c in cands for i in c]
        return _encode(tokenizer, q, a, config.max_len)

    group = 1 + QA_NEGATIVES

    def loss_fn(logits, examples):  # listwise: the true pair (column 0) against its 3 negatives
        scores = logits.view(len(examples), group)  # (questions, candidates)
        return torch.nn.functional.cross_entropy(scores, torch.zeros(len(examples), dtype=torch.long).to(scores.device))

    seconds = _fit(model, tokenizer, pairs(train_cands), loss_fn, group, config, device, seed, progress, cancel)
    logits = _predict_logits(model, tokenizer, pairs(test_cands), device, training_precision(device, config.precision))[
        :, 0
    ].reshape(-1, group)  # (questions, 4)
    correct = logits[:, 0] > logits[:, 1:].max(axis=1)
    truth = np.zeros_like(logits, dtype=int)
    truth[:, 0] = 1
    chosen = np.zeros_like(truth)
    chosen[np.arange(len(logits)), logits.argmax(axis=1)] = 1
    chosen[~correct & (logits.argmax(axis=1) == 0), 0] = 0  # a tie at the top is not a pick of the truth
    macro_f1 = float(f1_score(truth.ravel(), chosen.ravel(), average="macro"))
    return RunResult(float(correct.mean()), macro_f1, len(train_rows), seconds, correct=correct)


def train_classifier_and_evaluate(
    table: pd.DataFrame,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    *,
    config: FinetuneConfig,
    seed: int,
    progress: RunProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> RunResult:
    """Sequence classification. The labels of the whole table fix the label set, so a subset missing a class
    still gets a head of the right size."""
    import torch
    from sklearn.metrics import accuracy_score, f1_score

    if "label" not in table.columns:
        raise EudsInputError(
            "fine-tuning a classifier needs labels; pass --label-col (or use Q&A data with --question-col/--answer-col)"
        )
    label_names = sorted(table["label"].astype(str).unique().tolist())
    if len(label_names) < 2:
        raise EudsInputError("the labels have a single class; a classifier needs at least two")
    device = resolve_device(config.device)
    label_ids = table["label"].astype(str).map({name: i for i, name in enumerate(label_names)}).to_numpy()
    tokenizer, model = _load_model(str(resolve_encoder_path(config.model)), len(label_names), seed)
    texts = table["text"].tolist()
    train_features = _encode(tokenizer, [texts[i] for i in train_rows], None, config.max_len)
    y_train = torch.as_tensor(label_ids[train_rows], dtype=torch.long)

    def loss_fn(logits, examples):
        return torch.nn.functional.cross_entropy(logits, y_train[torch.as_tensor(examples)].to(logits.device))

    seconds = _fit(model, tokenizer, train_features, loss_fn, 1, config, device, seed, progress, cancel)
    test_features = _encode(tokenizer, [texts[i] for i in test_rows], None, config.max_len)
    predicted = _predict_logits(
        model, tokenizer, test_features, device, training_precision(device, config.precision)
    ).argmax(axis=1)
    y_test = label_ids[test_rows]
    return RunResult(
        float(accuracy_score(y_test, predicted)),
        float(f1_score(y_test, predicted, average="macro")),
        len(train_rows),
        seconds,
        correct=predicted == y_test,
    )
