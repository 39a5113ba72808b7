"""Score a model: the length of its text."""
import os
import sys

model, out = sys.argv[1], sys.argv[2]
with open(os.path.join(model, "model.txt")) as fh:
    size = len(fh.read())
with open(out, "w") as fh:
    fh.write(str(size))
print("score", size)
