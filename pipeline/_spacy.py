"""Import spaCy's thinc with PyTorch hidden; every pipeline module imports this before spaCy.

thinc imports PyTorch whenever it is installed, and it is installed here (the
sentence-transformers fallback of `embed.py` needs it): about 1.1 s added to every command that
loads the language model, which is a CPU model that never uses PyTorch. thinc is imported once
with `torch` hidden, so it records that PyTorch is absent; `torch` itself stays importable
afterwards for the code that does need it.
"""

from __future__ import annotations

import sys

if "thinc.compat" not in sys.modules and "torch" not in sys.modules:
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail
    try:
        import thinc.compat  # noqa: F401
    finally:
        del sys.modules["torch"]
