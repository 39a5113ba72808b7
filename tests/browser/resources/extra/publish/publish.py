import shutil
import sys
from pathlib import Path

report, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
shutil.copy(report, out / report.name)
