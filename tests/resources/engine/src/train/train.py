"""A pretend training step: the model is the data plus the learning rate."""
import json
import os
import sys

data, lr, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
text = "".join(open(os.path.join(data, n)).read() for n in sorted(os.listdir(data)))
with open(os.path.join(out, "model.txt"), "w") as fh:
    fh.write(f"{text}|lr={lr}")
with open(os.environ["DUCTWORK_METRICS_FILE"], "a") as fh:
    for epoch in range(3):
        fh.write(json.dumps({"name": "loss", "value": 1.0 / (epoch + 1) * lr, "step": epoch}) + "\n")
print("trained with lr", lr)
print("to stderr", file=sys.stderr)
