"""The small transformer text classifier, saved beside its weights so a model folder is self-contained.

``train_transformer.py`` copies this file into its output; ``text_evaluate`` (or any
user) imports it from there with :func:`load_model`, so no class definition has to be
kept in step elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["TextClassifier", "load_model", "predict"]


class TextClassifier(nn.Module):
    """Token + position embeddings, an ``nn.TransformerEncoder``, masked mean pooling, a linear head."""

    def __init__(self, vocab_size: int, num_classes: int, max_length: int, d_model: int = 64, n_heads: int = 4,
                 n_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1, pad_id: int = 0):
        super().__init__()
        self.pad_id = pad_id
        self.tokens = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.positions = nn.Embedding(max_length, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of padded token ids (``batch × length``)."""
        padding = ids == self.pad_id
        positions = torch.arange(ids.shape[1], device=ids.device)
        hidden = self.encoder(self.tokens(ids) + self.positions(positions), src_key_padding_mask=padding)
        keep = (~padding).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.head(self.norm(pooled))


def load_model(folder: str | Path, device: str = "cpu") -> tuple[TextClassifier, dict]:
    """The trained model of a ``text_train_transformer`` output folder, and its ``model.json``."""
    folder = Path(folder)
    info = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    model = TextClassifier(**info["architecture"])
    model.load_state_dict(torch.load(folder / "model.pt", map_location=device, weights_only=True))
    return model.to(device).eval(), info


@torch.no_grad()
def predict(model: TextClassifier, ids: np.ndarray, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """Class probabilities (``rows × classes``) for padded token ids."""
    model.eval()
    out = []
    for start in range(0, len(ids), batch_size):
        batch = torch.as_tensor(ids[start : start + batch_size], dtype=torch.long, device=device)
        out.append(torch.softmax(model(batch), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.head.out_features), dtype=np.float32)
