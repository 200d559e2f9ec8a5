"""What the render workers run: answers in, file bytes out.

These run in worker processes (see pool.py), so their arguments and results cross a pipe:
the answers travel as their compressed bytes, and decoding them is worker time too.

pandas and reportlab are imported here, inside the jobs, not at the top: the web process
only needs these functions' names to send them, and without those two libraries its heap
is about half the size, so each full garbage-collection pass (which pauses the event loop)
is about half as long. The workers have them already: the fork server preloads them.
"""

from __future__ import annotations

from service.analytics.answers import Answer

HEAVY_MODULES = ("service.exports.csv", "service.exports.pdf")  # preloaded by the fork server


def csv_file(overview: Answer) -> bytes:
    from service.exports.csv import overview_csv

    return overview_csv(overview.body())


def pdf_file(overview: Answer, compare: Answer, page_size: str) -> bytes:
    from service.exports.pdf import report_pdf

    return report_pdf(overview.body(), compare.body(), page_size)
