"""The public display in a real browser, offline: no input widgets, no off-host request,
the presenter steps through the views with the keyboard; at 1920 × 1080 and 3840 × 2160."""

from __future__ import annotations

import pytest

from tests.serving import LOADED, SLOW, map_frame, settled

pytestmark = pytest.mark.browser

INPUTS = (
    "() => document.querySelectorAll('input, textarea, select, button, [contenteditable]').length"
)


TITLE_HAS = "(t) => document.querySelector('.pub-title').innerText.includes(t)"


def _shown(page, until: str, arg) -> None:
    """The view shows ``until``, its script run is over and its map is drawn."""
    page.wait_for_selector(".pub-title", timeout=SLOW)
    settled(page, f"(arg) => ({until})(arg) && ({LOADED})()", arg)
    map_frame(page)


@pytest.mark.parametrize("scale", [1, 2])  # 1920 × 1080, and 3840 × 2160 at 200 %
def test_public_display_is_read_only_and_steps_with_the_keyboard(browser_page, artifacts,
                                                                  hostile_ws, scale):  # fmt: skip
    page, guard, url = browser_page
    if scale != 1:  # a 4K projector: the same layout, twice the pixels
        context = page.context.browser.new_context(
            viewport={"width": 1920, "height": 1080}, device_scale_factor=scale
        )
        context.set_default_timeout(SLOW)
        page = context.new_page()
        guard.attach(context, page)
    else:
        page.set_viewport_size({"width": 1920, "height": 1080})
    width, height = 1920 * scale, 1080 * scale
    page.goto(f"{url}/?mode=public")
    _shown(page, TITLE_HAS, "我们镇的河流和太湖")
    assert "我们镇的河流和太湖" in page.inner_text(".pub-title")
    assert page.evaluate(INPUTS) == 0  # no editing control anywhere on the page
    assert page.locator("[data-testid='stSidebar']").count() == 0 or not page.locator(
        "[data-testid='stSidebar']").is_visible()  # fmt: skip
    page.screenshot(path=str(artifacts / f"public_{width}x{height}.png"))
    page.keyboard.press("PageDown")
    page.wait_for_function("() => location.search.includes('slide=2')", timeout=SLOW)
    second = hostile_ws.read_table("public_slides").sort_values("position")["title_zh"].iloc[1]
    _shown(  # the view's title is hostile text, shown as text; then its headline figures
        page,
        f"(t) => ({TITLE_HAS})(t) && document.body.innerText.includes('class III or better')",
        second[:40],
    )
    assert "stations at class III or better" in page.inner_text("body")
    page.screenshot(path=str(artifacts / f"public_{width}x{height}_water.png"))
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('slide=3')", timeout=SLOW)
    page.keyboard.press("PageUp")
    page.wait_for_function("() => location.search.includes('slide=2')", timeout=SLOW)
    page.goto(f"{url}/?mode=public&slide=4")  # residents' comments: hostile text stays text
    _shown(page, "(t) => document.body.innerText.includes(t)", "public comments")
    assert "public comments" in page.inner_text("body")
    assert page.evaluate(INPUTS) == 0
    assert guard.dialogs == []
    if scale != 1:
        from PIL import Image

        shot = Image.open(artifacts / f"public_{width}x{height}.png")
        assert shot.size == (3840, 2160)
