"""Taxonomy workbench: build, curate, validate and export versioned hierarchical taxonomies of value strings.

The Python API lives in :mod:`taxonomy.api`: one function per CLI command, with the same name and options::

    import taxonomy.api as tx
    tx.init("my.db")
"""

__version__ = "0.1.0"
