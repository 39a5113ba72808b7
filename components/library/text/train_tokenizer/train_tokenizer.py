"""Train a WordPiece sub-word tokenizer on the training split (Hugging Face ``tokenizers``).

The tokenizer lower-cases and strips accents only when asked (the clean step usually
did), splits on whitespace and punctuation, and learns up to ``vocab_size`` word pieces
from words seen at least ``min_frequency`` times. Special tokens: ``[PAD]`` (id 0),
``[UNK]`` (id 1). It is written as ``tokenizer.json`` (loadable with
``tokenizers.Tokenizer.from_file`` or ``transformers.PreTrainedTokenizerFast``).
"""

from __future__ import annotations

import argparse

from components.library.scripting import boolean, fail, output_folder, read_parquet, write_json

try:
    from engine.metrics import log_metric
except ImportError:  # the engine is not importable: use the library's fallback
    from components.library.metrics import log_metric

SPECIAL_TOKENS = ["[PAD]", "[UNK]"]


def train_tokenizer(texts: list[str], vocab_size: int, min_frequency: int, lowercase: bool):
    """A trained ``tokenizers.Tokenizer`` (WordPiece) for ``texts``."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from tokenizers.trainers import WordPieceTrainer

    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]"))
    steps = [normalizers.NFKC()]
    if lowercase:
        steps += [normalizers.Lowercase(), normalizers.NFD(), normalizers.StripAccents()]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tokenizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--min_frequency", type=int, default=2)
    parser.add_argument("--lowercase", type=boolean, default=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.vocab_size < len(SPECIAL_TOKENS) + 26:
        fail(f"parameter 'vocab_size' is {args.vocab_size}; expected at least 28 (the specials and the alphabet)")
    data = read_parquet(args.train, "data.parquet", "train")
    tokenizer = train_tokenizer(data["text"].astype(str).tolist(), args.vocab_size, args.min_frequency, args.lowercase)
    folder = output_folder(args.output)
    tokenizer.save(str(folder / "tokenizer.json"))
    sample = data["text"].astype(str).head(2000).tolist()
    encoded = tokenizer.encode_batch(sample)
    tokens = sum(len(e.ids) for e in encoded)
    unknown = sum(e.ids.count(1) for e in encoded)
    words = sum(len(t.split()) for t in sample)
    info = {
        "vocab_size": tokenizer.get_vocab_size(),
        "tokens_per_word": round(tokens / max(words, 1), 4),
        "unknown_rate": round(unknown / max(tokens, 1), 6),
        "special_tokens": SPECIAL_TOKENS,
    }
    write_json(folder / "tokenizer_info.json", info)
    log_metric("vocab_size", info["vocab_size"])
    log_metric("tokens_per_word", info["tokens_per_word"])


if __name__ == "__main__":
    main()
