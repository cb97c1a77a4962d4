"""Inline images: photo of the topic or signature logo (parsers.photos), decided by where
they are referenced, repetition and name before size."""

from __future__ import annotations

from parsers.photos import InlineImage, signature_images


def image(index: int, name: str, size: int, *, cid: str | None = None, ctype: str = "image/jpeg",
          disposition: str | None = "inline", payload: str = "") -> InlineImage:
    return InlineImage(index, name, ctype, size, cid, disposition, cid is not None,
                       payload or f"{name}-{index}")


def test_small_photo_above_the_closing_is_a_photo_logo_below_is_not() -> None:
    html = ('<p>Was: Fest</p><p><img src="cid:image003.jpg@01"></p><p>Mit freundlichen '
            'Grüßen</p><p>Anna</p><p><img src="cid:image001.png@01"></p>'
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt"><b>Von:</b> Bot</div>')
    images = [image(1, "image001.png", 5000, cid="image001.png@01", ctype="image/png"),
              image(2, "image003.jpg", 18000, cid="image003.jpg@01")]
    assert signature_images(images, plain="", html=html) == {1}


def test_large_banner_in_the_signature_block_is_a_logo() -> None:
    html = ('<div>Text</div><div id="Signature"><img src="cid:banner"></div>'
            '<div id="divRplyFwdMsg">Von: Bot</div>')
    images = [image(1, "Outlook-Banner.png", 53000, cid="banner", ctype="image/png")]
    assert signature_images(images, plain="", html=html) == {1}


def test_gmail_photo_in_the_text_and_logo_in_the_signature() -> None:
    html = ('<div>So war es:<img src="cid:ii_1"></div><div class="gmail_signature">'
            '<img src="cid:ii_2"></div><div class="gmail_quote">alt</div>')
    images = [image(1, "IMG_20260101.jpg", 14000, cid="ii_1"),
              image(2, "vereinslogo.png", 9000, cid="ii_2", ctype="image/png")]
    assert signature_images(images, plain="", html=html) == {2}


def test_unreferenced_camera_photos_are_photos_whatever_their_size() -> None:
    images = [image(1, "image0.jpeg", 10_000), image(2, "20270110_153012.jpg", 15_000,
                                                    disposition=None)]
    assert signature_images(images, plain="", html="") == set()


def test_the_same_bytes_twice_are_a_logo() -> None:
    images = [image(1, "a.png", 38_000, ctype="image/png", payload="SAME"),
              image(2, "b.png", 38_000, ctype="image/png", payload="SAME")]
    assert signature_images(images, plain="", html="") == {1, 2}


def test_plain_placeholders_decide_without_html() -> None:
    plain = ("Was: Fest\n\n[cid:image002.jpg@01]\n\nGruß\nTobias\n\n[cid:image001.png@01]\n\n"
             "Von: Bot\nGesendet: Montag\nAn: Tobias\nBetreff: Themen\n")
    images = [image(1, "image001.png", 6000, cid="image001.png@01", ctype="image/png"),
              image(2, "image002.jpg", 46_000, cid="image002.jpg@01")]
    assert signature_images(images, plain=plain, html="") == {1}


def test_tiny_images_and_icon_names_are_no_photos() -> None:
    images = [image(1, "spacer.gif", 43, ctype="image/gif"),
              image(2, "facebook.png", 2500, ctype="image/png"),
              image(3, "Foto_Sommerfest.jpg", 2500)]
    assert signature_images(images, plain="", html="") == {1, 2}


def test_an_attachment_is_never_a_logo() -> None:
    images = [InlineImage(1, "logo_sommerfest.png", "image/png", 900, None, "attachment",
                          False, "x")]
    assert signature_images(images, plain="", html="") == set()
