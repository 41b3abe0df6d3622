"""``python -m caresim.app``: the same as ``caresim-app``."""

from caresim.app.server import main

main()
