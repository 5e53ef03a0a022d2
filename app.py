"""Townmap's Streamlit entry point in the checkout (``streamlit run app.py``).

The page list lives in ``townmap/ui/navigation.py`` so that an installed Townmap
(``townmap serve``) runs the same app; this file only hands over to it.
"""

from townmap.ui.navigation import run

run()
