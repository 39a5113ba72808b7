"""Regenerate ``houses.csv``: synthetic house prices, deterministic from a seed (CC0-1.0).

    python components/library/tabular/data/make_houses.py --rows 2000 --seed 11 --output houses.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

NEIGHBOURHOODS = {"centre": 60.0, "north": 15.0, "south": -10.0, "east": 0.0, "west": 25.0}


def generate(rows: int, seed: int) -> pd.DataFrame:
    """Columns: area_m2, rooms, age_years, distance_km, has_garden, neighbourhood, price_k (the target)."""
    rng = np.random.default_rng(seed)
    area = rng.gamma(9.0, 11.0, rows).round(1) + 20
    rooms = np.clip((area / 28 + rng.normal(0, 0.8, rows)).round(), 1, 9).astype(int)
    age = rng.integers(0, 120, rows).astype(float)
    distance = rng.exponential(6.0, rows).round(2)
    garden = (rng.random(rows) < 0.35).astype(int)
    names = list(NEIGHBOURHOODS)
    hood = rng.choice(names, rows, p=[0.15, 0.25, 0.25, 0.2, 0.15])
    price = (40 + 2.4 * area + 9 * rooms - 0.6 * age - 5.5 * distance + 22 * garden
             + np.array([NEIGHBOURHOODS[h] for h in hood]) + 0.004 * area**1.5 + rng.normal(0, 25, rows))
    age[rng.random(rows) < 0.03] = np.nan  # missing values: the model must impute them
    return pd.DataFrame({"area_m2": area, "rooms": rooms, "age_years": age, "distance_km": distance,
                         "has_garden": garden, "neighbourhood": hood, "price_k": price.round(1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--output", default="houses.csv")
    args = parser.parse_args()
    generate(args.rows, args.seed).to_csv(args.output, index=False)


if __name__ == "__main__":
    main()
