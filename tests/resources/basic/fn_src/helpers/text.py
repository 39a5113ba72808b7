"""Tokenising helpers imported by count_words.py."""
import re

WORD = re.compile(r"[A-Za-z']+")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    words = WORD.findall(text)
    return [w.lower() for w in words] if lowercase else words
