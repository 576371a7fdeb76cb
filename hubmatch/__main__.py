from hubmatch.cli import run

run()
