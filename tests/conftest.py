import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))   # tests/course.py and friends

try:  # one torch thread everywhere: on 2 shared cores, two threads ran small models up to 17x slower
    import torch
    torch.set_num_threads(1)
except ImportError:
    pass
