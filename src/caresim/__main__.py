"""``python -m caresim``: the ``caresim`` command."""

from caresim.console import main

if __name__ == "__main__":
    main()
