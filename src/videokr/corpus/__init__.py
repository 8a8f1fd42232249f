"""Corpus-level views of §3.1–§3.2: `plan.py` (what a run at a given scale would cost, pure arithmetic) and
`estimate.py` (a workspace's stages: its prices, settings and measured pass rates)."""
