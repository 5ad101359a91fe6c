"""An HTML browser of one taxonomy version: `taxo report` (a static site that opens from file://) and
`taxo serve` (the same pages live from the database, read-only, on 127.0.0.1).

:mod:`taxonomy.report.data` gathers what the pages show into plain JSON-able dicts, :mod:`taxonomy.report.site`
writes them with the page assets (``assets/``: HTML, JavaScript, CSS, and plotly.js copied from the plotly
package), :mod:`taxonomy.report.server` serves them.
"""
