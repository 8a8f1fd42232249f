"""§3.1's domain knowledge bank: Table 6's subjects, expert syllabi read from files, coverage, drafts.

`subjects` holds Table 6 as data; `bank` reads YAML/CSV bank files into validated `Lecture`
records with errors that name the file and entry; `export` writes them back; `coverage`
counts what the bank holds per discipline, subject and course; `draft` is what a model is
asked when it proposes syllabi for uncovered subjects. The `kb` and `kb_draft` steps
(`videokr.steps.kb`) bring them onto the runner.
"""
