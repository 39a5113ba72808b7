"""Upper-case every file of a folder into another folder."""
import os
import sys

src, out = sys.argv[1], sys.argv[2]
names = sorted(os.listdir(src))
for name in names:
    with open(os.path.join(src, name)) as fh:
        text = fh.read()
    with open(os.path.join(out, name), "w") as fh:
        fh.write(text.upper())
print(f"prep: {len(names)} files")
