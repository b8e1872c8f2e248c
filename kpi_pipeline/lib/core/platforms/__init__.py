"""One contract per platform: the facts every layer must agree on about it.

What is asked (paths, fields, metric names, page sizes) and what an answer means are
written here once; the real API clients, the demo simulator that answers like the
platform, the parsers and the export readers import them, so what is asked and what is
read can never drift apart.
"""
