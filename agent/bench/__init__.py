"""Evaluation and benchmark harnesses: prompt-eval suites, the LLM bench, the fake model server."""
