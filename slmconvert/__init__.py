"""slmconvert: turn an agent's LLM call logs into fine-tuned small language models."""

import os

# Intel MKL (torch's BLAS on x86) otherwise picks its code path by thread count, so the
# same text embedded by a process with 1 thread (a Ray worker) and one with 2 (a laptop)
# differed in the 7th digit, and k-means turned that into different clusters. STRICT
# conditional numerical reproducibility gives the same bits whatever the thread count, at
# the same speed (measured on this machine). Read by MKL when torch first uses it, so it
# is set before torch is imported; a user's own setting wins.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__version__ = "0.1.0"
