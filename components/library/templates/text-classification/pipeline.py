"""Text classification in Ductwork's Python DSL: the twin of pipeline.yml (both load to the same pipeline).

    from pipeline import build
    job = build()            # a PipelineJob: run it, register it, or job.dump("pipeline.yml")
"""

from pathlib import Path

from components.sdk import Input, load_component, pipeline

HERE = Path(__file__).resolve().parent


def _component(path: str):
    """The component of a YAML file given relative to this file."""
    return load_component(source=(HERE / path).resolve())


load_text = _component("../../text/load/component.yml")
clean_text = _component("../../text/clean/component.yml")
split_text = _component("../../text/split/component.yml")
train_tokenizer = _component("../../text/train_tokenizer/component.yml")
featurise_text = _component("../../text/featurise/component.yml")
train_transformer = _component("../../text/train_transformer/component.yml")
train_baseline = _component("../../text/train_baseline/component.yml")
evaluate_model = _component("../../text/evaluate/component.yml")


@pipeline(name="text_classification", display_name="Text classification", default_compute="local",
          tags={"template": "text-classification"})
def text_classification(raw, epochs, learning_rate):
    """Clean and featurise labelled texts on cpu-highmem, train a transformer on gpu and a baseline, evaluate both."""
    load = load_text(raw=raw)
    clean = clean_text(dataset=load.outputs.dataset, min_chars=10, max_chars=1000)
    clean.compute = "cpu-highmem"
    split = split_text(dataset=clean.outputs.clean, seed=42)
    tokenizer = train_tokenizer(train=split.outputs.train, vocab_size=8000)
    featurise = featurise_text(train=split.outputs.train, valid=split.outputs.valid, test=split.outputs.test,
                               tokenizer=tokenizer.outputs.tokenizer, max_length=64)
    featurise.compute = "cpu-highmem"
    train = train_transformer(features=featurise.outputs.features, epochs=epochs, learning_rate=learning_rate)
    train.compute = "gpu"
    evaluate = evaluate_model(model=train.outputs.model, features=featurise.outputs.features)
    baseline = train_baseline(features=featurise.outputs.features)
    evaluate_baseline = evaluate_model(model=baseline.outputs.model, features=featurise.outputs.features)
    return {"model": train.outputs.model, "evaluation": evaluate.outputs.evaluation,
            "baseline_evaluation": evaluate_baseline.outputs.evaluation}


def build():
    """The pipeline job with the template's default inputs (the shipped sample data)."""
    return text_classification(raw=Input(type="uri_folder", path="../../text/data"), epochs=3, learning_rate=0.001)
