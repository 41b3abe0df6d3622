"""``python -m caresim.app``: the same as ``caresim-app``."""

from caresim.app.command import main

main()
