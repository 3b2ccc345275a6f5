"""The command-line layer under :mod:`dcmstruct.cli`: batches of files, settings from flags
and config files, the ``validate`` command's run. It sits on top: it imports the validator and
the report writers, and nothing below imports it.

Modules are imported by the command that needs them, so that a command's start-up pays only
for what it uses (``import dcmstruct.cli`` loads argparse and little else).
"""
