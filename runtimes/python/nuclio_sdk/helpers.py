"""Interpreter facts nuclio-sdk exposes (edgefn runs on Python 3 only)."""
import sys

PYTHON3 = sys.version_info[0] == 3
PYTHON2 = sys.version_info[0] == 2
