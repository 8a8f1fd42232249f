"""Human review: the queues experts work through and the verdicts they leave (issue 12).

`schema` is the shared contract (items, verdicts, per-queue payloads); `verdicts` keeps
verdicts in the store; `queues` builds each queue's items; `app` is `videokr review`.
"""
