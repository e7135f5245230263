"""`python -m newswatch` runs the command line."""

from newswatch.cli import app

app(prog_name="newswatch")
