"""One module per API: pure parsers (response JSON -> payloads + rejections) and the live fetchers."""
