"""The script every browser session runs: Townmap's navigation (``navigation.run``)."""

from townmap.ui.navigation import run

run()
