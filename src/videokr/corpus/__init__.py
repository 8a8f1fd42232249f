"""Corpus-level views of §3.1–§3.4: `plan.py` (what a run at a given scale would cost, pure arithmetic),
`estimate.py` (a workspace's stages: its prices, settings and measured pass rates) and `quality.py` (§3.4's
manual quality assessment: the review queue, the verdicts, the report)."""
