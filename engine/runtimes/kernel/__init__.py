"""What every runtime does the same way: codecs, the effect applier, input order and lateness."""
