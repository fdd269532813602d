import os, sys; sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # noqa: E401
from graphtools.cli import main  # noqa: E402
sys.exit(main(["pipeline"] + sys.argv[1:]))
