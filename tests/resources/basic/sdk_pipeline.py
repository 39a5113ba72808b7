"""The Python twin of pipeline_twin.yml, written as for Azure ML SDK v2 (only imports differ)."""
from components.sdk import Input, load_component, pipeline

prep_data = load_component(source="prep.yml")
train_model = load_component(source="train.yml")


@pipeline(name="nlp_twin", default_compute="cpu")
def nlp_twin(raw, max_epochs):
    """Prepare texts, then train."""
    prep = prep_data(raw_data=raw, min_len=3)
    prep.compute = "cpu-highmem"
    train = train_model(training_data=prep.outputs.clean, epochs=max_epochs, learning_rate=0.05)
    train.compute = "gpu"
    train.set_limits(timeout=600)
    train.retries = 1
    train.environment_variables = {"PYTHONHASHSEED": "0"}
    return {"trained_model": train.outputs.model_output}


def build():
    return nlp_twin(raw=Input(type="uri_folder", path="./data"), max_epochs=20)
