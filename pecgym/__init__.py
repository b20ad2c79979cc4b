"""pecgym: a batched NumPy Gymnasium environment and benchmark for LLM-inference scheduling."""

__version__ = "0.1.0"
