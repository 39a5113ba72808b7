"""Train a WordPiece tokenizer on the training split (Hugging Face ``tokenizers``).

The tokenizer normalises (NFKC; lower-casing and accent stripping when asked), splits on
whitespace and punctuation (BERT's pre-tokenizer), and encodes with WordPiece: a word in
the vocabulary is one token, any other word is split into the longest known pieces, down
to single characters (``##`` marks a piece inside a word). The vocabulary is learned here,
deterministically: the specials ``[PAD]`` (id 0) and ``[UNK]`` (id 1), every character
seen (as a word start and as ``##`` continuation), then the most frequent words seen at
least ``min_frequency`` times, up to ``vocab_size``; ties are broken alphabetically.
(``tokenizers``' own WordPiece trainer numbers and even picks pieces of equal frequency
differently from run to run, which would defeat reuse downstream.) The result is
``tokenizer.json``, loadable with ``tokenizers.Tokenizer.from_file`` or
``transformers.PreTrainedTokenizerFast``.
"""

from __future__ import annotations

import argparse
from collections import Counter

from components.library.scripting import boolean, fail, output_folder, read_parquet, write_json
from components.metrics import log_metric

SPECIAL_TOKENS = ["[PAD]", "[UNK]"]


def learn_vocabulary(words: Counter[str], vocab_size: int, min_frequency: int) -> dict[str, int]:
    """Token → id: specials, character pieces (most frequent first), then whole words."""
    chars: Counter[str] = Counter()
    for word, count in words.items():
        chars[word[0]] += count
        for char in word[1:]:
            chars["##" + char] += count
    ranked = sorted(chars.items(), key=lambda item: (-item[1], item[0]))
    ranked += sorted(((w, c) for w, c in words.items() if c >= min_frequency and len(w) > 1),
                     key=lambda item: (-item[1], item[0]))
    tokens = SPECIAL_TOKENS + [token for token, _ in ranked][: max(vocab_size - len(SPECIAL_TOKENS), 0)]
    return {token: index for index, token in enumerate(tokens)}


def train_tokenizer(texts: list[str], vocab_size: int, min_frequency: int, lowercase: bool):
    """A trained ``tokenizers.Tokenizer`` (WordPiece) for ``texts``; the same texts give the same bytes."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    steps = [normalizers.NFKC()]
    if lowercase:
        steps += [normalizers.Lowercase(), normalizers.NFD(), normalizers.StripAccents()]
    normalizer = normalizers.Sequence(steps)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    tokenizer = Tokenizer(WordPiece(learn_vocabulary(words, vocab_size, min_frequency), unk_token="[UNK]",
                                    continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
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
