"""`taxo analyze`: the Values-in-the-Wild study's analyses on any version, from the stored extraction records.

One module per analysis (:mod:`prevalence`, :mod:`context`, :mod:`consistency`, :mod:`responses`, :mod:`pairs`,
:mod:`compare`), shared counting and privacy helpers in :mod:`common`, output files in :mod:`output` and
figures in :mod:`plots`. :func:`taxonomy.api.analyze` is the entry point.
"""

from taxonomy.analyze.common import AnalysisResult, Table

ANALYSES = ("prevalence", "context", "consistency", "responses", "pairs", "compare")

__all__ = ["ANALYSES", "AnalysisResult", "Table"]
