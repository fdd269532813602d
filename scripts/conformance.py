#!/usr/bin/env python
"""Every case folder (case.json + ref.npz) through the named, zero-config and plain routes; a table and a score."""
import os, sys; sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # noqa: E401
from graphtools.workflow.conformance import main  # noqa: E402
sys.exit(main())
