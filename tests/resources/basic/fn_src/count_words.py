"""A function component: count the words of every CSV 'text' cell."""
from __future__ import annotations

import json
from pathlib import Path

from components.sdk import Input, Output, command_component
from helpers.text import tokenize


@command_component(name="count_words", version="1", compute="cpu", resources={"cpus": 1, "memory": "256Mi"})
def count_words(texts: Input(type="uri_folder"), counts: Output(type="uri_folder"), min_len: int = 1,
                lowercase: bool = True) -> None:
    """Count words in the texts.

    Writes counts.json into the output folder.
    """
    words: dict[str, int] = {}
    for path in sorted(Path(texts).glob("*.csv")):
        for line in path.read_text().splitlines()[1:]:
            for word in tokenize(line.split(",", 1)[1], lowercase=lowercase):
                if len(word) >= min_len:
                    words[word] = words.get(word, 0) + 1
    Path(counts).mkdir(parents=True, exist_ok=True)
    (Path(counts) / "counts.json").write_text(json.dumps(words, sort_keys=True))


@command_component
def total(counts: Input(type="uri_folder")) -> int:
    """Sum the word counts."""
    return sum(json.loads((Path(counts) / "counts.json").read_text()).values())
