"""The command side of kreg: an experiment file becomes a plan, then a search, a confirmation and a report.

`experiment` reads the file; `plan` resolves and checks everything into an
immutable `Plan`; `folder` claims the experiment's folder; `search` runs the
search and the confirmation on it; `workers` runs it as Keras Tuner's chief and
workers; `confirm` retrains and compares; `report` prints, plots and writes
Markdown; `train` is `kreg train`. See `kreg/run/README.md`.
"""
