"""The plain-text part derived from an email's HTML: what a reader of the text part should see."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.plaintext import html_to_text

CART_EMAIL = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Juniper &amp; Pine</title>
  <style type="text/css">
    body { margin: 0; }
    @media (max-width: 600px) { .col { display: block !important; width: 100% !important; } }
  </style>
  <!--[if mso]><style>td { font-family: Arial, sans-serif; }</style><![endif]-->
</head>
<body style="margin:0;padding:0;background:#f4f1ea;">
  <!-- Preheader: the inbox shows it beside the subject; the body never does. -->
  <div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">
    2 items waiting in your cart&nbsp;&zwnj;&nbsp;&zwnj;&nbsp;&zwnj;
  </div>
  <table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f1ea;">
    <tr>
      <td align="center" style="padding:24px 12px;">
        <table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background:#ffffff;">
          <tr>
            <td style="padding:24px 32px;background:#2f4a3a;">
              <a href="https://shop.example/?utm_source=email&amp;utm_medium=cart"><img
                 src="https://shop.example/logo.png" width="120" alt="Juniper &amp; Pine"></a>
            </td>
          </tr>
          <tr>
            <td style="padding:32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;">
              <h1 style="font-family:Georgia,serif;font-weight:normal;">Your cart is waiting, Ann</h1>
              <p>You left 2 items in your cart, for a total of
                 <strong>$84.00</strong>. We&#8217;ve kept them aside&nbsp;for you.</p>
              <table role="presentation" width="100%" cellpadding="0" cellspacing="0">
                <tr>
                  <td class="col" style="padding:10px 0;"><img src="https://shop.example/p/1.jpg" alt=""></td>
                  <td class="col" style="padding:10px 0;">1 &times; Linen throw</td>
                  <td class="col" align="right" style="padding:10px 0;">$54.00</td>
                </tr>
                <tr>
                  <td class="col" style="padding:10px 0;"><img src="https://shop.example/p/2.jpg" alt=""></td>
                  <td class="col" style="padding:10px 0;">1 &times; Cedar candle</td>
                  <td class="col" align="right" style="padding:10px 0;">$30.00</td>
                </tr>
              </table>
              <table role="presentation" cellpadding="0" cellspacing="0" style="margin:24px 0;">
                <tr><td style="background:#c2703d;border-radius:6px;">
                  <!--[if mso]>
                  <v:roundrect href="https://shop.example/cart/c42" style="height:44px;width:220px;">
                    <center>Return to my cart</center>
                  </v:roundrect>
                  <![endif]-->
                  <a href="https://shop.example/cart/c42"
                     style="display:inline-block;padding:12px 24px;color:#ffffff;mso-hide:all;">Return to my cart</a>
                </td></tr>
              </table>
              <p>Why shop with us:</p>
              <ul>
                <li>Free returns for 30&nbsp;days</li>
                <li>Carbon-neutral shipping &amp; plastic-free packaging</li>
              </ul>
              <div class="mobile-only" style="display:none;max-height:0;overflow:hidden;">
                <div>Tap to <a href="https://shop.example/app">open the app</a></div>
                <div>Mobile-only copy</div>
              </div>
              <p>Questions? Write to <a href="mailto:help@shop.example">our team</a> or visit
                 <a href="https://shop.example/help">https://shop.example/help</a>.</p>
            </td>
          </tr>
          <tr>
            <td style="padding:20px 32px;font-size:12px;color:#7a7468;">
              Juniper &amp; Pine, 1 Main St, Portland, OR 97201<br>
              You receive this because you joined Juniper &amp; Pine.
              <a href="https://shop.example/unsubscribe/abc123" style="color:#7a7468;">Unsubscribe</a>
            </td>
          </tr>
        </table>
      </td>
    </tr>
  </table>
  <img src="https://shop.example/o/abc123.gif" width="1" height="1" alt="" style="display:block;">
</body>
</html>
"""

CART_TEXT = """\
Juniper & Pine (https://shop.example/?utm_source=email&utm_medium=cart)

Your cart is waiting, Ann

You left 2 items in your cart, for a total of $84.00. We’ve kept them aside for you.

1 × Linen throw $54.00
1 × Cedar candle $30.00

Return to my cart (https://shop.example/cart/c42)

Why shop with us:

- Free returns for 30 days
- Carbon-neutral shipping & plastic-free packaging

Questions? Write to our team or visit https://shop.example/help.

Juniper & Pine, 1 Main St, Portland, OR 97201
You receive this because you joined Juniper & Pine. Unsubscribe (https://shop.example/unsubscribe/abc123)"""


def test_a_table_based_marketing_email_reads_as_plain_text() -> None:
    assert html_to_text(CART_EMAIL) == CART_TEXT


# ---- what never shows ---------------------------------------------------------------------------

def test_head_style_script_and_title_never_show() -> None:
    source = ('<HEAD><TITLE>Sale</TITLE></HEAD><style type="text/css">p { color: red }</style>'
              "<script>track('x')</script><p>Body</p>")
    assert html_to_text(source) == "Body"


def test_comments_and_outlook_conditional_blocks_never_show() -> None:
    source = "<p>One<!-- a note --> two</p><!--[if mso]><p>Outlook copy</p><![endif]-->"
    assert html_to_text(source) == "One two"


def test_content_for_clients_other_than_outlook_shows() -> None:
    assert html_to_text("<!--[if !mso]><!--><p>Everyone else</p><!--<![endif]-->") == "Everyone else"


@pytest.mark.parametrize("style", [
    "display:none", "display: none", "DISPLAY:NONE", "color:#fff; display:none !important; max-height:0",
])
def test_a_hidden_preheader_never_shows(style: str) -> None:
    assert html_to_text(f'<span style="{style}">Preview text</span><p>Body</p>') == "Body"


def test_a_hidden_element_in_single_quotes_never_shows() -> None:
    assert html_to_text("<span style='display:none'>Preview</span><p>Body</p>") == "Body"


def test_a_hidden_element_never_shows_with_what_it_contains() -> None:
    source = '<div style="display:none"><div>Mobile</div> menu <div>and <b>more</b></div> tail</div><p>Body</p>'
    assert html_to_text(source) == "Body"


def test_text_after_a_hidden_element_shows() -> None:
    source = '<p>Before <span style="display:none">hidden</span> after</p>'
    assert html_to_text(source) == "Before after"


def test_a_hidden_image_gives_no_alt_text() -> None:
    assert html_to_text('<img src="x.gif" alt="pixel" style="display:none"><p>Body</p>') == "Body"


def test_an_unclosed_hidden_element_loses_no_more_than_its_tag() -> None:
    assert html_to_text('<span style="display:none">Preview<p>Body</p>') == "Preview\n\nBody"


def test_outlook_only_hiding_keeps_a_button_that_other_clients_show() -> None:
    source = '<a href="https://shop.example/b" style="display:inline-block;mso-hide:all;">Shop now</a>'
    assert html_to_text(source) == "Shop now (https://shop.example/b)"


def test_a_style_that_merely_mentions_none_is_not_hidden() -> None:
    assert html_to_text('<p style="border:none;text-decoration:none">Shown</p>') == "Shown"


# ---- blocks and lines ---------------------------------------------------------------------------

def test_paragraphs_are_separated_by_one_blank_line_however_many_blocks_lie_between() -> None:
    source = "<p>One</p><p></p><p>&nbsp;</p><div><table><tr><td><p>Two</p></td></tr></table></div>"
    assert html_to_text(source) == "One\n\nTwo"


def test_a_line_break_starts_a_new_line_without_a_blank_one() -> None:
    assert html_to_text("Line one<br>\nLine two<br/>Line three<BR />") == "Line one\nLine two\nLine three"


def test_source_line_breaks_inside_a_paragraph_are_spaces() -> None:
    assert html_to_text("<p>A sentence wrapped\n   over\n\tthree lines.</p>") == "A sentence wrapped over three lines."


@pytest.mark.parametrize("level", range(1, 7))
def test_headings_keep_their_text_as_written_on_their_own_paragraph(level: int) -> None:
    source = f"Intro<h{level} class='t'>New in <em>spring</em></h{level}>Text"
    assert html_to_text(source) == "Intro\n\nNew in spring\n\nText"


def test_list_items_become_dashed_lines() -> None:
    source = "<p>Includes:</p>\n<ul>\n  <li>One</li>\n  <li>Two <b>bold</b></li>\n</ul>\n<ol><li>Three</li></ol>"
    assert html_to_text(source) == "Includes:\n\n- One\n- Two bold\n- Three"


def test_table_rows_are_lines_and_cells_in_a_row_are_spaced() -> None:
    source = "<table><tr><th>Item</th><th>Price</th></tr><tr><td>Mug</td><td>$9</td></tr></table>"
    assert html_to_text(source) == "Item Price\nMug $9"


def test_inline_elements_do_not_break_words() -> None:
    assert html_to_text("<p>Save <strong>20</strong>%<span>off</span></p>") == "Save 20%off"


def test_whitespace_is_collapsed_within_lines_and_lines_are_stripped() -> None:
    assert html_to_text("<div>   lots \t of   space   </div>\n\n  <div>  next </div>  ") == "lots of space\nnext"


# ---- links and images ---------------------------------------------------------------------------

def test_a_link_reads_as_its_text_then_its_url() -> None:
    source = '<a href="https://shop.example/sale">See the sale</a>'
    assert html_to_text(source) == "See the sale (https://shop.example/sale)"


def test_a_link_whose_text_is_its_url_reads_as_the_url_once() -> None:
    assert html_to_text('<a href="https://shop.example/">https://shop.example/</a>') == "https://shop.example/"


def test_a_link_without_text_reads_as_its_url() -> None:
    assert html_to_text('<a href="https://shop.example/"></a>') == "https://shop.example/"


def test_an_image_link_reads_as_its_alt_text_then_its_url() -> None:
    source = '<a href="https://shop.example/"><img src="logo.png" alt="Juniper &amp; Pine"></a>'
    assert html_to_text(source) == "Juniper & Pine (https://shop.example/)"


@pytest.mark.parametrize("anchor", [
    '<a name="top">Back to top</a>', '<a href="#top">Back to top</a>', '<a href="">Back to top</a>',
])
def test_an_anchor_without_a_destination_reads_as_its_text(anchor: str) -> None:
    assert html_to_text(anchor) == "Back to top"


def test_mailto_and_tel_links_read_as_their_text() -> None:
    source = '<a href="mailto:help@shop.example">Write to us</a> or <a href="tel:+15550100">call</a>'
    assert html_to_text(source) == "Write to us or call"


def test_a_link_url_is_unescaped_once() -> None:
    source = '<a href="https://shop.example/?a=1&amp;copy=2&amp;amp;x=3">Go</a>'
    assert html_to_text(source) == "Go (https://shop.example/?a=1&copy=2&amp;x=3)"


def test_a_raw_ampersand_in_a_link_url_stays_as_written() -> None:
    # A browser keeps "&region" and "&not" here; a blind unescape would give "®ion" and "¬ify".
    source = "<a href='https://shop.example/?a=1&region=eu&notify=1'>Go</a>"
    assert html_to_text(source) == "Go (https://shop.example/?a=1&region=eu&notify=1)"


def test_an_unquoted_link_url_is_read() -> None:
    assert html_to_text("<a href=https://shop.example/x>Go</a>") == "Go (https://shop.example/x)"


def test_a_data_attribute_is_not_mistaken_for_the_link_url() -> None:
    source = '<a data-href="https://tracker.example/" href="https://shop.example/">Go</a>'
    assert html_to_text(source) == "Go (https://shop.example/)"


def test_images_read_as_their_alt_text_or_not_at_all() -> None:
    source = "<p><img src='a.png' alt='Summer sale'> <img src='spacer.gif' alt=''> <img src='pixel.gif'></p>"
    assert html_to_text(source) == "Summer sale"


# ---- entities and plain input -------------------------------------------------------------------

def test_entities_are_unescaped() -> None:
    source = "<p>Tom &amp; Jerry&nbsp;&#8217;s &#x2014; caf&eacute; &euro;5 &lt;b&gt;not bold&lt;/b&gt;</p>"
    assert html_to_text(source) == "Tom & Jerry ’s — café €5 <b>not bold</b>"


def test_empty_input_gives_empty_text() -> None:
    assert html_to_text("") == ""
    assert html_to_text("  \n\t ") == ""
    assert html_to_text("<html><head><title>x</title></head><body>\n</body></html>") == ""


def test_plain_text_input_comes_back_as_it_reads() -> None:
    assert html_to_text("Hello Ann, your order has shipped.") == "Hello Ann, your order has shipped."


def test_a_less_than_sign_in_plain_text_is_not_taken_for_a_tag() -> None:
    assert html_to_text("Orders < $50 ship for $5, orders > $50 ship free") == (
        "Orders < $50 ship for $5, orders > $50 ship free")


def test_plain_text_line_breaks_read_as_an_html_client_shows_them() -> None:
    # An .email.html body is HTML: a client shows source line breaks as spaces, and so does the text part.
    assert html_to_text("Hello Ann,\nyour order has shipped.") == "Hello Ann, your order has shipped."


# ---- properties ---------------------------------------------------------------------------------

@given(st.text(st.characters(exclude_characters="<>&\x00\x01")))  # NUL and SOH are no HTML text
def test_text_without_markup_only_has_its_whitespace_collapsed(text: str) -> None:
    assert html_to_text(text) == " ".join(text.split())


MARKUP = st.lists(st.sampled_from([
    "<p>", "</p>", "<br>", "<div>", "</div>", "<li>", "<td>", "</td>", "<tr>", "<h2>", "</h2>", " ", "\n",
    "word", "&nbsp;", "&amp;", '<a href="https://x.example/">', "</a>", '<span style="display:none">', "</span>",
    "<!-- c -->", "<img alt='pic'>",
])).map("".join)


@given(MARKUP)
def test_the_text_has_no_tags_no_padded_lines_and_no_double_blank_lines(source: str) -> None:
    text = html_to_text(source)
    assert "<" not in text and "\n\n\n" not in text
    assert all(line == line.strip() for line in text.split("\n"))
    assert text == text.strip()
