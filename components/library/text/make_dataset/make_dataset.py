"""Generate the synthetic "news topics" text classification dataset, deterministically.

Each row is one to three sentences about one of six topics, built from per-topic
vocabularies and sentence templates, with words borrowed from other topics (so the
classes overlap), typos, noisy spacing and casing, near-duplicate rows, very short and
very long rows, and a few wrong labels: the cleaning step has real work and the
classifiers cannot reach 100 %. Same ``--seed`` and ``--rows`` → the same bytes.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pandas as pd

from components.library.scripting import fail, output_folder

TOPICS: dict[str, dict[str, list[str]]] = {
    "sports": {
        "subjects": ["the home team", "the striker", "the coach", "the goalkeeper", "the champions",
                     "the rookie", "the captain", "the league", "the underdogs", "the referee"],
        "verbs": ["won", "lost", "scored in", "defended", "dominated", "drew", "trained for", "qualified for"],
        "objects": ["the final", "the derby", "the season opener", "the playoff game", "the tournament",
                    "the cup match", "the relay race", "the title race", "the away fixture"],
        "extras": ["after extra time", "with a late goal", "in front of a sold out stadium",
                   "despite an injury", "on penalties", "with a record crowd", "in the second half"],
    },
    "business": {
        "subjects": ["the retailer", "the bank", "shareholders", "the startup", "the airline",
                     "investors", "the chief executive", "the board", "the carmaker", "analysts"],
        "verbs": ["reported", "cut", "raised", "announced", "acquired", "forecast", "merged with", "sold"],
        "objects": ["quarterly profits", "its dividend", "a takeover bid", "record revenue", "new shares",
                    "its outlook", "a rival firm", "the bond issue", "operating costs", "market share"],
        "extras": ["as stocks fell", "amid inflation fears", "ahead of earnings season", "on the stock exchange",
                   "after a weak quarter", "to reassure the markets", "despite rising interest rates"],
    },
    "technology": {
        "subjects": ["the chipmaker", "developers", "the software company", "hackers", "the smartphone maker",
                     "engineers", "the cloud provider", "the app", "the open source project", "the browser"],
        "verbs": ["released", "patched", "launched", "open sourced", "shipped", "updated", "deprecated", "leaked"],
        "objects": ["a new processor", "a security update", "the operating system", "a machine learning model",
                    "the beta version", "its encryption keys", "a data centre", "the developer toolkit"],
        "extras": ["for faster downloads", "after a data breach", "with better battery life",
                   "to the app store", "using neural networks", "across all devices", "with a new compiler"],
    },
    "science": {
        "subjects": ["astronomers", "the research team", "physicists", "the telescope", "biologists",
                     "the space agency", "chemists", "the rover", "geologists", "the laboratory"],
        "verbs": ["discovered", "observed", "measured", "sequenced", "mapped", "detected", "synthesised", "studied"],
        "objects": ["a distant galaxy", "gravitational waves", "an ancient fossil", "a new particle",
                    "the genome of a rare frog", "water on the moon", "a comet", "a deep sea volcano"],
        "extras": ["in a peer reviewed paper", "with a new spectrometer", "for the first time",
                   "after years of observations", "in the journal nature", "using a particle accelerator"],
    },
    "health": {
        "subjects": ["doctors", "the hospital", "nurses", "the health ministry", "researchers at the clinic",
                     "the vaccine maker", "patients", "the surgeon", "the pharmacy", "public health officials"],
        "verbs": ["treated", "approved", "warned about", "vaccinated", "diagnosed", "tested", "prescribed", "reduced"],
        "objects": ["the flu outbreak", "a new therapy", "rising blood pressure", "the waiting lists",
                    "a cancer drug", "childhood obesity", "the clinical trial", "antibiotic resistance"],
        "extras": ["during the winter season", "in a randomised trial", "with fewer side effects",
                   "across rural clinics", "after the pandemic", "for elderly patients", "at the emergency ward"],
    },
    "politics": {
        "subjects": ["the senator", "parliament", "the prime minister", "voters", "the opposition party",
                     "the governor", "the cabinet", "the mayor", "lawmakers", "the president"],
        "verbs": ["passed", "vetoed", "debated", "campaigned against", "proposed", "rejected", "signed", "delayed"],
        "objects": ["the budget bill", "a new tax law", "the election reform", "the trade agreement",
                    "the climate policy", "a vote of no confidence", "the immigration bill", "the coalition deal"],
        "extras": ["before the election", "after a heated debate", "in the capital", "amid protests",
                   "with a narrow majority", "during the summit", "in a televised address"],
    },
}
#: Class shares: imbalanced on purpose, so that a stratified split matters.
WEIGHTS: dict[str, float] = {"sports": 0.24, "business": 0.2, "technology": 0.18, "science": 0.15,
                             "health": 0.13, "politics": 0.10}
OPENERS = ["", "", "", "breaking: ", "update: ", "report: ", "today ", "on monday ", "late on friday "]
FILLERS = ["reportedly", "officially", "finally", "once again", "unexpectedly", "quietly", "again"]
TEMPLATES = [
    "{open}{subject} {verb} {object} {extra}.",
    "{open}{subject} {filler} {verb} {object}.",
    "{subject} {verb} {object}, {extra}.",
    "{open}{object} was the talk of the week after {subject} {verb} it {extra}.",
    "according to sources, {subject} {verb} {object}.",
]
SHORT_ROWS = ["ok", "n/a", "...", "lol", "see above", "tbd", "", "?"]


def _pick(rng: random.Random, topic: str, part: str, borrow: float) -> str:
    """A word group of ``part``, from ``topic`` or (with probability ``borrow``) another topic."""
    if rng.random() < borrow:
        topic = rng.choice(sorted(TOPICS))
    return rng.choice(TOPICS[topic][part])


def _sentence(rng: random.Random, topic: str, borrow: float) -> str:
    template = rng.choice(TEMPLATES)
    return template.format(
        open=rng.choice(OPENERS),
        subject=_pick(rng, topic, "subjects", borrow),
        verb=_pick(rng, topic, "verbs", borrow),
        object=_pick(rng, topic, "objects", borrow),
        extra=_pick(rng, topic, "extras", borrow),
        filler=rng.choice(FILLERS),
    )


def _typo(rng: random.Random, text: str) -> str:
    """Swap two adjacent letters of one word."""
    words = text.split(" ")
    index = rng.randrange(len(words))
    word = words[index]
    if len(word) > 3:
        at = rng.randrange(len(word) - 1)
        words[index] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return " ".join(words)


def _noisy_copy(rng: random.Random, text: str) -> str:
    """A near-duplicate: the same text with different casing and spacing."""
    return rng.choice([text.upper(), text.title(), "  " + text + "  ", text.replace(" ", "  ", 2), text])


def generate(rows: int, seed: int, borrow: float = 0.25, label_noise: float = 0.03) -> pd.DataFrame:
    """The dataset as a DataFrame with columns ``id``, ``text``, ``label`` (``rows`` rows)."""
    rng = random.Random(seed)
    topics = list(WEIGHTS)
    weights = [WEIGHTS[t] for t in topics]
    texts: list[str] = []
    labels: list[str] = []
    for _ in range(rows):
        roll = rng.random()
        if texts and roll < 0.06:  # near-duplicate of an earlier row
            source = rng.randrange(len(texts))
            texts.append(_noisy_copy(rng, texts[source]))
            labels.append(labels[source])
            continue
        topic = rng.choices(topics, weights)[0]
        if roll < 0.08:  # length outlier: too short
            text = rng.choice(SHORT_ROWS)
        elif roll < 0.09:  # length outlier: a rambling, very long row
            text = " ".join(_sentence(rng, topic, borrow) for _ in range(rng.randint(20, 40)))
        else:
            text = " ".join(_sentence(rng, topic, borrow) for _ in range(rng.randint(1, 3)))
            if rng.random() < 0.1:
                text = _typo(rng, text)
            if rng.random() < 0.05:
                text = text.capitalize()
        if rng.random() < label_noise:
            topic = rng.choice(topics)
        texts.append(text)
        labels.append(topic)
    return pd.DataFrame({"id": range(1, rows + 1), "text": texts, "label": labels})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--borrow", type=float, default=0.25, help="share of words taken from other topics")
    parser.add_argument("--label_noise", type=float, default=0.03)
    parser.add_argument("--format", choices=["csv", "jsonl", "parquet"], default="csv")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.rows < 1:
        fail(f"parameter 'rows' is {args.rows}; expected at least 1")
    if not 0 <= args.borrow <= 1 or not 0 <= args.label_noise <= 1:
        fail("parameters 'borrow' and 'label_noise' must lie between 0 and 1")
    frame = generate(args.rows, args.seed, args.borrow, args.label_noise)
    folder = output_folder(args.output)
    target = folder / f"news_topics.{args.format}"
    if args.format == "csv":
        frame.to_csv(target, index=False)
    elif args.format == "jsonl":
        frame.to_json(target, orient="records", lines=True)
    else:
        frame.to_parquet(target, index=False)
    print(f"wrote {len(frame)} rows, {frame['label'].nunique()} labels to {Path(target).name}")


if __name__ == "__main__":
    main()
