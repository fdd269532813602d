"""python -m graphtools.cli"""
import sys

from . import main


sys.exit(main())
