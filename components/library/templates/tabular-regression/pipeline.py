"""Tabular regression in Ductwork's Python DSL: the twin of pipeline.yml (both load to the same pipeline).

    from pipeline import build
    job = build()            # a PipelineJob: run it, register it, or job.dump("pipeline.yml")
"""

from pathlib import Path

from components.sdk import Input, load_component, pipeline

HERE = Path(__file__).resolve().parent


def _component(path: str):
    """The component of a YAML file given relative to this file."""
    return load_component(source=(HERE / path).resolve())


load_csv = _component("../../tabular/load_csv/component.yml")
split_table = _component("../../tabular/split/component.yml")
train_regressor = _component("../../tabular/train_regressor/component.yml")
score_regressor = _component("../../tabular/score/component.yml")


@pipeline(name="tabular_regression", display_name="Tabular regression", default_compute="local",
          tags={"template": "tabular-regression"})
def tabular_regression(raw, target_column, algorithm):
    """Load a CSV table, split it, train a regression model and score it on held-out rows."""
    load = load_csv(raw=raw, target_column=target_column)
    split = split_table(dataset=load.outputs.dataset, test_fraction=0.2, seed=42)
    train = train_regressor(train=split.outputs.train, algorithm=algorithm)
    score = score_regressor(model=train.outputs.model, test=split.outputs.test)
    return {"model": train.outputs.model, "scores": score.outputs.scores}


def build():
    """The pipeline job with the template's default inputs (the shipped house-prices table)."""
    return tabular_regression(raw=Input(type="uri_folder", path="../../tabular/data"), target_column="price_k",
                              algorithm="gradient_boosting")
